// Drives a running local estate with nothing but the public Azure SDK clients, the way any script or
// tool of yours can. Start the estate, then:
//
//   npx switchyard estate serve --plan examples/contoso.plan.yaml      # prints "estate:" and "ca:"
//   NODE_EXTRA_CA_CERTS=<ca path> ESTATE_URL=<estate url> node examples/estate-client.mjs
//
// It finds the resources to use in the estate's own inventory (GET /_estate/state), so it works for
// any plan. Each step prints one line; the script exits 1 at the first step that does not hold.
import { CdnManagementClient } from "@azure/arm-cdn";
import { FrontDoorManagementClient } from "@azure/arm-frontdoor";
import { SqlManagementClient } from "@azure/arm-sql";
import { StorageManagementClient } from "@azure/arm-storage";
import { WebSiteManagementClient } from "@azure/arm-appservice";
import { SecretClient } from "@azure/keyvault-secrets";

const base = process.env.ESTATE_URL;
if (!base) {
  console.error("set ESTATE_URL (and NODE_EXTRA_CA_CERTS to the estate's ca file)");
  process.exit(2);
}
// The estate accepts any bearer token.
const credential = { getToken: async () => ({ token: "local", expiresOnTimestamp: Date.now() + 3_600_000 }) };
const options = { endpoint: base };
const poll = { updateIntervalInMs: 10 };
const parts = (id) => {
  const s = id.split("/");
  return { sub: s[2], rg: s[4], names: s.filter((_, i) => i >= 8 && i % 2 === 0) };
};
const check = (ok, what) => {
  if (!ok) {
    console.error(`FAILED: ${what}`);
    process.exit(1);
  }
  console.log(`ok: ${what}`);
};

const state = await (await fetch(`${base}/_estate/state`)).json();

// SQL failover group: read it, fail it over to the partner, see the roles swap.
const fg = state.failoverGroups[0];
const primary = parts(fg.primaryServerId);
const secondary = parts(fg.secondaryServerId);
const sql = new SqlManagementClient(credential, primary.sub, options);
const before = await sql.failoverGroups.get(primary.rg, primary.names[0], fg.name);
check(before.replicationRole === "Primary", `failover group ${fg.name} is primary on ${primary.names[0]}`);
await sql.failoverGroups.beginFailoverAndWait(secondary.rg, secondary.names[0], fg.name, poll);
const after = await sql.failoverGroups.get(secondary.rg, secondary.names[0], fg.name);
check(after.replicationRole === "Primary", `after failover ${fg.name} is primary on ${secondary.names[0]}`);

// Storage: geo-replication stats, then a planned failover swaps the locations.
const account = parts(state.storageAccounts[0].id);
const storage = new StorageManagementClient(credential, account.sub, options);
const props = await storage.storageAccounts.getProperties(account.rg, account.names[0], { expand: "geoReplicationStats" });
check(props.geoReplicationStats?.canPlannedFailover === true, `storage ${account.names[0]} can fail over (last sync ${props.geoReplicationStats?.lastSyncTime?.toISOString()})`);
await storage.storageAccounts.failover(account.rg, account.names[0], { failoverType: "Planned", ...poll });
const moved = await storage.storageAccounts.getProperties(account.rg, account.names[0]);
check(moved.primaryLocation === props.secondaryLocation && moved.secondaryLocation === props.primaryLocation, `storage locations swapped to ${moved.primaryLocation}/${moved.secondaryLocation}`);

// Front Door Standard/Premium: disable an origin.
const origin = state.afdOrigins[0];
const o = parts(origin.id);
const cdn = new CdnManagementClient(credential, o.sub, options);
await cdn.afdOrigins.beginUpdateAndWait(o.rg, o.names[0], o.names[1], o.names[2], { enabledState: "Disabled" }, poll);
const disabled = await cdn.afdOrigins.get(o.rg, o.names[0], o.names[1], o.names[2]);
check(disabled.enabledState === "Disabled", `AFD origin ${o.names[2]} disabled`);

// Front Door classic: lower a backend's priority and put the Front Door back.
const door = parts(state.frontDoors[0].id);
const fd = new FrontDoorManagementClient(credential, door.sub, options);
const fdoor = await fd.frontDoors.get(door.rg, door.names[0]);
const backend = fdoor.backendPools[0].backends[0];
backend.priority = 5;
await fd.frontDoors.createOrUpdate(door.rg, door.names[0], fdoor, poll);
const updated = await fd.frontDoors.get(door.rg, door.names[0]);
check(updated.backendPools[0].backends[0].priority === 5, `classic backend ${backend.address} priority 5`);

// App Service: replace the app settings, read them back.
const site = parts(state.sites[0].id);
const web = new WebSiteManagementClient(credential, site.sub, options);
const settings = await web.webApps.listApplicationSettings(site.rg, site.names[0]);
await web.webApps.updateApplicationSettings(site.rg, site.names[0], { properties: { ...settings.properties, SWITCHYARD_SMOKE: "1" } });
const reread = await web.webApps.listApplicationSettings(site.rg, site.names[0]);
check(reread.properties.SWITCHYARD_SMOKE === "1", `app setting written on ${site.names[0]}`);

// Key Vault: set and get a secret. The vault sits under a path on the estate, so the SDK's check that
// the challenge names the vault's own host is turned off for this client (only here).
const vault = state.vaults[0].name;
const secrets = new SecretClient(`${base}/keyvault/${vault}`, credential, { disableChallengeResourceVerification: true });
await secrets.setSecret("estate-client-check", "not-a-real-secret");
const got = await secrets.getSecret("estate-client-check");
check(got.value === "not-a-real-secret", `secret set and read back in ${vault}`);

// An unknown resource is a 404 with ARM's error code.
try {
  await sql.failoverGroups.get(primary.rg, primary.names[0], "no-such-group");
  check(false, "unknown failover group answers 404");
} catch (error) {
  check(error.statusCode === 404 && error.code === "ResourceNotFound", `unknown resource: ${error.statusCode} ${error.code}`);
}
