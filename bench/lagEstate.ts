/**
 * The estate for bench/lag.ts, in a process of its own (so that its TLS and TDS work runs on another
 * core than the client's, as Azure's does): seeded from the plan file given, Resource Manager
 * throttling on at Azure's limits, each TDS login answered after the latency given (ms). Prints its
 * client target as one JSON line, then serves until its stdin closes.
 */
import { loadPlanFile } from "../src/core/plan/index.ts";
import { seedFromPlans } from "../src/local/estateSeed.ts";
import { startEstate } from "../estate/server.ts";

const [planFile, latency] = process.argv.slice(2);
const plan = await loadPlanFile(planFile!);
const estate = await startEstate({ seed: seedFromPlans([plan]), armThrottling: true, tdsLoginLatencyMs: Number(latency ?? 0) });
process.stdout.write(`${JSON.stringify(estate.clientTarget())}\n`);
process.stdin.resume();
process.stdin.on("end", () => void estate.close().then(() => process.exit(0)));
