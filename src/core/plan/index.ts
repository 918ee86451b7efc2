export * from "./armId.ts";
export * from "./crossChecks.ts";
export * from "./load.ts";
export * from "./regions.ts";
export * from "./schema.ts";
export * from "./warnings.ts";
