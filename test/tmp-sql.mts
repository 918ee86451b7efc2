import { startEstate } from "/work/main/estate/server.ts";
import { loadPlanFile } from "/work/main/src/core/plan/index.ts";
import { SqlManagementClient } from "@azure/arm-sql";
const plan = await loadPlanFile("/work/main/examples/contoso.plan.yaml");
const estate = await startEstate({ plans: [plan] });
const cred = { getToken: async () => ({ token: "estate", expiresOnTimestamp: Date.now() + 3600_000 }) };
const sub = plan.sql[0]!.failoverGroup.subscriptionId;
const client = new SqlManagementClient(cred, sub, { endpoint: estate.url, tlsOptions: { ca: estate.ca.cert } } as any);
const fg = plan.sql[0]!.failoverGroup; const partner = plan.sql[0]!.partnerServer;
console.log(await client.failoverGroups.get(fg.resourceGroup, fg.names[0]!, fg.name));
const r = await client.failoverGroups.beginFailoverAndWait(partner.resourceGroup, partner.name, fg.name, { updateIntervalInMs: 10 });
console.log("after", r.properties?.replicationRole, r.id);
console.log((await client.replicationLinks.listByDatabase(partner.resourceGroup, partner.name, "orders").next()).value);
try { await client.failoverGroups.get(fg.resourceGroup, fg.names[0]!, "nope"); } catch (e: any) { console.log("err", e.statusCode, e.code, e.message); }
console.log(estate.requests().map(r => `${r.method} ${r.path} ${r.status}`).join("\n"));
await estate.close();
