// `npm run bench`: every benchmark, one after another.
await import("./estate.ts");
