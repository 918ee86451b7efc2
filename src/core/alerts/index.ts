export * from "./classify.ts";
export * from "./schema.ts";
