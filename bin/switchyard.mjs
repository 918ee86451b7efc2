#!/usr/bin/env node
// The switchyard command. Runs the TypeScript sources directly (tsx), so a fresh checkout needs no build.
// It is a development tool: tsx, commander, the estate's packages and Azurite are devDependencies, so it
// needs `npm ci` (not `npm ci --omit=dev`, which installs only what the Function App runs).
let register;
try {
  ({ register } = await import("tsx/esm/api"));
} catch (error) {
  if (error?.code !== "ERR_MODULE_NOT_FOUND") throw error;
  process.stderr.write("switchyard: the command needs the devDependencies (tsx and others): run `npm ci` without --omit=dev\n");
  process.exit(1);
}

register();
const { main } = await import("../src/cli/main.ts");
process.exitCode = await main(process.argv);
