/**
 * The user-facing RTO of a local drill: from the start of the outage until requests sent as a user
 * would (through the plan's Front Door endpoints and classic frontends, or to the target region's
 * health endpoints when the plan has no Front Door) are served by the new primary while its data tier
 * is writable (every SQL failover group primary there, every storage account primary there and not
 * failing over), and stay so. The estate knows both; Switchyard's run does not decide it.
 *
 * It can come before the run's own RTO (Front Door's health probes skip the dead region's origin before
 * any configuration change propagates, and the data tier may be writable before verification ends) or
 * after it (propagation still under way when the run's checks pass).
 */
import { ancestorId, type Plan } from "../core/plan/index.ts";
import { requestThroughFrontDoor } from "../activities/frontdoor.ts";
import type { ClientFactory } from "../azure/clients.ts";
import { edgeHostNames } from "../../estate/edge.ts";
import type { Estate } from "../../estate/server.ts";

export interface UserWatch {
  /** Stops watching; resolves with the first recovered moment (ms since epoch), if one came. */
  stop(): Promise<number | undefined>;
}

/** Is the plan's data tier writable in `region` now, by the estate's own state? */
export function dataTierWritableIn(estate: Estate, plan: Plan, region: string): boolean {
  const snapshot = estate.snapshot();
  const sqlOk = plan.sql.every((entry) => {
    const serverThere = region === plan.regions.primary.name ? ancestorId(entry.failoverGroup, 1) : entry.partnerServer.id;
    const group = snapshot.failoverGroups.find((g) => g.name.toLowerCase() === entry.failoverGroup.name.toLowerCase() && g.ids.some((id) => id.toLowerCase().startsWith(entry.partnerServer.id.toLowerCase())));
    return group !== undefined && group.primaryServerId.toLowerCase() === serverThere.toLowerCase();
  });
  const storageOk = plan.storage.every((entry) => {
    const account = snapshot.storageAccounts.find((a) => a.id.toLowerCase() === entry.account.id.toLowerCase());
    return account !== undefined && account.primaryLocation === region && !account.failoverInProgress;
  });
  return sqlOk && storageOk;
}

/** The URLs a user of the plan requests: each Front Door host with the target's health path, else the target's health endpoints. */
export function userUrls(estate: Estate, plan: Plan, region: string): string[] {
  const target = region === plan.regions.primary.name ? plan.regions.primary : plan.regions.secondary;
  const path = new URL(target.healthEndpoints[0]!.url).pathname;
  const hosts = plan.frontDoor.standard.length + plan.frontDoor.classic.length > 0 ? edgeHostNames(estate.state) : [];
  return hosts.length > 0 ? hosts.map((host) => `https://${host}${path}`) : target.healthEndpoints.map((e) => e.url);
}

/**
 * Requests the plan's user URLs every `intervalMs` until stopped. Recovery is the start of the last
 * unbroken stretch of good answers (served by `region`, data tier writable) that lasts until the watch
 * stops: an outage that comes back (a site restarting after its settings change) starts it over.
 */
export function watchUsers(options: { estate: Estate; clients: ClientFactory; plan: Plan; region: string; intervalMs: number }): UserWatch {
  const urls = userUrls(options.estate, options.plan, options.region);
  let stopped = false;
  let streakFrom: number | undefined;
  const loop = (async () => {
    while (!stopped) {
      const at = Date.now();
      const answers = await Promise.all(urls.map((url) => requestThroughFrontDoor(options.clients, url, 2_000)));
      const served = answers.length > 0 && answers.every((a) => a.status === 200 && a.region === options.region);
      const good = served && dataTierWritableIn(options.estate, options.plan, options.region);
      if (!good) streakFrom = undefined;
      else streakFrom ??= at;
      await new Promise((resolve) => setTimeout(resolve, options.intervalMs));
    }
  })();
  return {
    async stop() {
      stopped = true;
      await loop.catch(() => undefined);
      return streakFrom;
    },
  };
}
