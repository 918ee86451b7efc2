export * from "./notifier.ts";
export * from "./journalNotifier.ts";
export * from "./consoleNotifier.ts";
