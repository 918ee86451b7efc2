// `npm run bench`: every benchmark, one after another.
await import("./estate.ts");
await import("./drill.ts");
await import("./webhook.ts");
await import("./detectionLoad.ts");
await import("./lag.ts");
await import("./notifications.ts");
await import("./rotation.ts");
await import("./readiness.ts");
await import("./bundle.ts");
