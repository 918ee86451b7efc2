export * from "./collect.ts";
export * from "./evaluate.ts";
export * from "./stateStore.ts";
