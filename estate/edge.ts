import { createHash } from "node:crypto";
import { objectAt, objectsIn, stringAt } from "./json.ts";
import type { EstateState } from "./state.ts";

/*
 * Front Door as users meet it: the edge. ARM holds the configuration Switchyard writes; the edge serves
 * the configuration that has reached it. A committed change reaches the edge after a propagation time
 * (the Azure time profile's `frontDoorPropagation`), and changes of one scope (an AFD profile, a classic
 * Front Door) are deployed one after another: Azure's Front Door FAQ says each configuration update is
 * a global operation and that operations submitted while one is still propagating are queued and begin
 * once it completes. Until a change has propagated, the edge serves the configuration before it.
 *
 * Requests through the edge go to the origin (backend) the live configuration selects: enabled, healthy
 * (Front Door's own health probes take an origin whose region is down or whose app is restarting out of
 * rotation, without any configuration change), lowest priority value first, then by weight. When every
 * enabled origin is unhealthy, Front Door's documented behaviour is to keep sending requests to all of
 * them; here every such request fails, so the edge answers 503.
 */

/** Lower-case id without trailing slashes (ARM ids compare case-insensitively). */
const k = (id: string) => id.replace(/\/+$/, "").toLowerCase();

export type DeploymentStatus = "NotStarted" | "InProgress" | "Succeeded";

/** What the edge knows of an AFD origin: the fields that decide routing. */
export interface LiveOrigin {
  readonly enabledState: "Enabled" | "Disabled";
  readonly priority: number;
  readonly weight: number;
}

/** A configuration change on its way to the edge, as data: what the edge serves once it has arrived. */
export type EdgeChange =
  | { readonly kind: "afdOrigin"; readonly id: string; readonly live: LiveOrigin }
  | { readonly kind: "classicFrontDoor"; readonly id: string; readonly body: Record<string, unknown> };

interface Propagation {
  readonly scope: string;
  /** Resources (keys) that show `InProgress` until it has been deployed. */
  readonly resources: readonly string[];
  readonly startsAt: number;
  readonly endsAt: number;
  readonly change: EdgeChange;
}

/** The edge as plain data (see Edge.toJSON). */
export interface EdgeData {
  readonly queue: readonly Propagation[];
  readonly tails: readonly (readonly [string, number])[];
  readonly deployed: readonly string[];
  readonly origins: readonly (readonly [string, LiveOrigin])[];
  readonly frontDoors: readonly (readonly [string, Record<string, unknown>])[];
  readonly turns: readonly (readonly [string, number])[];
}

export class Edge {
  private queue: Propagation[] = [];
  /** When the last change queued in each scope is (or was) deployed. */
  private readonly tails = new Map<string, number>();
  /** Resources that have had a deployment complete (`deploymentStatus` Succeeded from then on). */
  private readonly deployed = new Set<string>();
  /** Live values of AFD origins that were changed since seeding (the others serve as ARM has them). */
  readonly origins = new Map<string, LiveOrigin>();
  /** Live bodies of classic Front Doors changed since seeding. */
  readonly frontDoors = new Map<string, Record<string, unknown>>();
  private readonly turns = new Map<string, number>();

  toJSON(): EdgeData {
    return { queue: this.queue, tails: [...this.tails], deployed: [...this.deployed], origins: [...this.origins], frontDoors: [...this.frontDoors], turns: [...this.turns] };
  }

  /** Replaces what the edge holds with kept data (see toJSON). */
  restore(data: EdgeData): void {
    this.clear();
    this.queue = [...data.queue];
    for (const [scope, at] of data.tails) this.tails.set(scope, at);
    for (const r of data.deployed) this.deployed.add(r);
    for (const [id, live] of data.origins) this.origins.set(id, live);
    for (const [id, body] of data.frontDoors) this.frontDoors.set(id, body);
    for (const [host, n] of data.turns) this.turns.set(host, n);
  }

  clear(): void {
    this.queue = [];
    this.tails.clear();
    this.deployed.clear();
    this.origins.clear();
    this.frontDoors.clear();
    this.turns.clear();
  }

  /**
   * Queues a change Azure committed at `committedAt` (the end of its ARM operation): it starts deploying
   * once the changes queued before it in `scope` are deployed, and is live `durationMs` after that.
   */
  propagate(change: { scope: string; resources: readonly string[]; committedAt: number; durationMs: number; change: EdgeChange }): void {
    const scope = k(change.scope);
    const startsAt = Math.max(change.committedAt, this.tails.get(scope) ?? 0);
    const endsAt = startsAt + change.durationMs;
    this.tails.set(scope, endsAt);
    this.queue.push({ scope, resources: change.resources.map(k), startsAt, endsAt, change: change.change });
  }

  /** Makes every change whose propagation has ended live, in the order they were queued. */
  settle(now: number): void {
    const done = this.queue.filter((p) => p.endsAt <= now);
    if (done.length === 0) return;
    this.queue = this.queue.filter((p) => p.endsAt > now);
    for (const p of done.sort((a, b) => a.endsAt - b.endsAt)) {
      if (p.change.kind === "afdOrigin") this.origins.set(k(p.change.id), p.change.live);
      else this.frontDoors.set(k(p.change.id), p.change.body);
      for (const r of p.resources) this.deployed.add(r);
    }
  }

  /** Is a change naming this resource still on its way to the edge? */
  propagating(resourceId: string): boolean {
    const id = k(resourceId);
    return this.queue.some((p) => p.resources.includes(id));
  }

  /** Is any change of this scope (a profile, a classic Front Door) still on its way to the edge? */
  scopePropagating(scope: string): boolean {
    const id = k(scope);
    return this.queue.some((p) => p.scope === id);
  }

  /** `deploymentStatus` as the resource's own history gives it (callers add `InProgress` for a running operation). */
  status(resourceId: string): DeploymentStatus {
    if (this.propagating(resourceId)) return "InProgress";
    return this.deployed.has(k(resourceId)) ? "Succeeded" : "NotStarted";
  }

  /** Weighted turn-taking among origins of equal priority, per host. */
  turn(host: string, totalWeight: number): number {
    const n = this.turns.get(host) ?? 0;
    this.turns.set(host, n + 1);
    return n % Math.max(1, totalWeight);
  }
}

/** The generated host name of an AFD endpoint: `<name>-<16 characters>.z01.azurefd.net` (stable per endpoint id). */
export function afdEndpointHostName(endpointId: string, name: string): string {
  const digest = createHash("sha256").update(k(endpointId)).digest();
  const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789";
  const suffix = [...digest.subarray(0, 16)].map((b) => alphabet[b % alphabet.length]).join("");
  return `${name.toLowerCase()}-${suffix}.z01.azurefd.net`;
}

// ---- requests through the edge --------------------------------------------------------------------

export interface EdgeAnswer {
  readonly status: number;
  readonly body: Record<string, unknown>;
}

interface Candidate {
  readonly name: string;
  readonly region: string | undefined;
  readonly enabled: boolean;
  readonly priority: number;
  readonly weight: number;
}

/** Does a Front Door route pattern (`/*`, `/api/*`, `/exact`) match the path? */
function matches(patterns: readonly unknown[], path: string): boolean {
  const p = path.toLowerCase();
  return patterns.some((pattern) => {
    if (typeof pattern !== "string") return false;
    const q = pattern.toLowerCase();
    return q.endsWith("/*") ? p.startsWith(q.slice(0, -1)) || p === q.slice(0, -2) : p === q;
  });
}

/** Where an origin may take requests: its region is up and its app is not restarting. */
function usable(state: EstateState, now: number, region: string | undefined): boolean {
  return region !== undefined && !state.isDown(region) && !state.restarting(region, now);
}

function why(state: EstateState, now: number, c: Candidate): string {
  if (c.region === undefined) return `${c.name}: the estate does not know where it runs`;
  if (state.isDown(c.region)) return `${c.name}: region ${c.region} is down`;
  if (state.restarting(c.region, now)) return `${c.name}: its app in ${c.region} is restarting`;
  return `${c.name}: unusable`;
}

function choose(state: EstateState, edge: Edge, now: number, host: string, path: string, candidates: Candidate[]): EdgeAnswer {
  const enabled = candidates.filter((c) => c.enabled);
  if (enabled.length === 0) return { status: 503, body: { status: "Unavailable", host, path, reason: "no origin is enabled" } };
  const healthy = enabled.filter((c) => usable(state, now, c.region));
  if (healthy.length === 0) {
    return { status: 503, body: { status: "Unavailable", host, path, reason: `every enabled origin is unhealthy (${enabled.map((c) => why(state, now, c)).join("; ")})` } };
  }
  const best = Math.min(...healthy.map((c) => c.priority));
  const tied = healthy.filter((c) => c.priority === best);
  const total = tied.reduce((sum, c) => sum + c.weight, 0);
  let turn = edge.turn(host, total);
  const served = tied.find((c) => (turn -= c.weight) < 0) ?? tied[0]!;
  return { status: 200, body: { status: "Healthy", region: served.region, origin: served.name, host, path } };
}

/** Every host name the edge serves (AFD endpoints, classic frontend endpoints), lower-case. */
export function edgeHostNames(state: EstateState): string[] {
  const hosts = new Set<string>();
  for (const endpoint of state.afdEndpoints.values()) hosts.add(endpoint.hostName.toLowerCase());
  for (const fd of state.frontDoors.values()) {
    for (const body of [fd.body, state.edge.frontDoors.get(k(fd.id))]) {
      for (const fe of objectsIn(objectAt(body, "properties")?.frontendEndpoints)) {
        const hostName = stringAt(objectAt(fe, "properties"), "hostName");
        if (hostName !== undefined) hosts.add(hostName.toLowerCase());
      }
    }
  }
  return [...hosts];
}

/** Answers a request for `path` sent to the Front Door host `host`, as the edge would serve it now. */
export function answerAtEdge(state: EstateState, now: number, host: string, path: string): EdgeAnswer {
  const h = host.toLowerCase();
  const edge = state.edge;
  edge.settle(now);

  const endpoint = [...state.afdEndpoints.values()].find((e) => e.hostName.toLowerCase() === h);
  if (endpoint) {
    const route = endpoint.routes.find((r) => matches(r.patternsToMatch, path));
    if (!route) return { status: 404, body: { status: "NotFound", host, path, reason: "no route of the endpoint matches the path" } };
    const origins = [...state.afdOrigins.values()].filter((o) => k(o.originGroupId) === k(route.originGroupId));
    const candidates = origins.map((o): Candidate => {
      const live = edge.origins.get(k(o.id)) ?? o;
      return { name: o.name, region: o.region, enabled: live.enabledState === "Enabled", priority: live.priority, weight: live.weight };
    });
    return choose(state, edge, now, h, path, candidates);
  }

  for (const fd of state.frontDoors.values()) {
    const body = edge.frontDoors.get(k(fd.id)) ?? fd.body;
    const props = objectAt(body, "properties") ?? {};
    const frontend = objectsIn(props.frontendEndpoints).find((fe) => (stringAt(objectAt(fe, "properties"), "hostName") ?? "").toLowerCase() === h);
    if (!frontend) continue;
    if (props.enabledState === "Disabled") return { status: 503, body: { status: "Unavailable", host, path, reason: "the Front Door is disabled" } };
    const rule = objectsIn(props.routingRules).find((r) => {
      const p = objectAt(r, "properties") ?? {};
      const served = objectsIn(p.frontendEndpoints).some((ref) => k(stringAt(ref, "id") ?? "") === k(stringAt(frontend, "id") ?? ""));
      return served && p.enabledState !== "Disabled" && matches(Array.isArray(p.patternsToMatch) ? p.patternsToMatch : ["/*"], path);
    });
    const poolRef = objectAt(objectAt(objectAt(rule, "properties"), "routeConfiguration"), "backendPool");
    if (!poolRef) return { status: 404, body: { status: "NotFound", host, path, reason: "no forwarding routing rule matches the path" } };
    const pool = objectsIn(props.backendPools).find((p) => k(stringAt(p, "id") ?? "") === k(stringAt(poolRef, "id") ?? ""));
    const candidates = objectsIn(objectAt(pool, "properties")?.backends).map((b): Candidate => {
      const address = stringAt(b, "address") ?? "";
      return {
        name: address,
        region: fd.backendRegions[address.toLowerCase()],
        enabled: b.enabledState !== "Disabled",
        priority: typeof b.priority === "number" ? b.priority : 1,
        weight: typeof b.weight === "number" ? b.weight : 50,
      };
    });
    return choose(state, edge, now, h, path, candidates);
  }
  return { status: 404, body: { status: "NotFound", host, path, reason: "the estate serves no Front Door host by this name" } };
}
