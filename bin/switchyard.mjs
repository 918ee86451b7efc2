#!/usr/bin/env node
// The switchyard command. Runs the TypeScript sources directly (tsx), so a fresh checkout needs no build.
import { register } from "tsx/esm/api";

register();
const { main } = await import("../src/cli/main.ts");
process.exitCode = await main(process.argv);
