export * from "./types.ts";
export * from "./teams.ts";
export * from "./slack.ts";
export * from "./pagerduty.ts";
export * from "./email.ts";
export * from "./webhook.ts";
