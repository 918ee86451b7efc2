/** The channel-independent notification event (defined in core: plans name its kinds and severities). */
export * from "../core/notification.ts";
