/**
 * The lag of a plan's resources as people and programs read it: `switchyard lag` (text or --json) and
 * `GET /api/plans/{plan}` (`replicationLag`).
 */
import { withinRpo, type LagSample } from "../core/lag.ts";
import type { Plan } from "../core/plan/index.ts";
import type { LagDocument } from "./store.ts";

export interface LagResourceView {
  readonly resourceId: string;
  readonly kind: LagSample["kind"];
  readonly name: string;
  readonly group?: string;
  /** Seconds; null when the last measurement could not tell. */
  readonly lagSeconds: number | null;
  readonly state: string;
  readonly measuredAt: string;
  readonly source: LagSample["source"];
  /** SQL: the server that answered (or was asked) as primary; storage: the account's primary location. */
  readonly primary?: string;
  /** null: unknown. */
  readonly withinRpo: boolean | null;
  /** In an RPO breach (begun above the budget, not yet back below 80 % of it). */
  readonly breached?: boolean;
  /** When the latest sample has no lag: the newest one that had (what the RPO gate would age in an outage). */
  readonly lastMeasured?: { readonly lagSeconds: number; readonly measuredAt: string };
  readonly error?: string;
}

export interface LagView {
  readonly plan: string;
  readonly rpoSeconds: number;
  readonly resources: LagResourceView[];
}

/** A view of samples just measured (`switchyard lag`). */
export function viewOfSamples(plan: Plan, samples: readonly LagSample[]): LagView {
  return { plan: plan.name, rpoSeconds: plan.objectives.rpoSeconds, resources: samples.map((s) => resourceView(s, plan.objectives.rpoSeconds)) };
}

/** A view of the stored samples (`GET /api/plans/{plan}`): the latest per resource, SQL first. */
export function viewOfStored(plan: Plan, doc: LagDocument): LagView {
  const rpo = plan.objectives.rpoSeconds;
  const resources = Object.values(doc.resources)
    .map((r) => ({
      ...resourceView(r.latest, rpo),
      breached: r.breached,
      ...(r.latest.lagSeconds === null && r.lastMeasured && r.lastMeasured.lagSeconds !== null ? { lastMeasured: { lagSeconds: r.lastMeasured.lagSeconds, measuredAt: r.lastMeasured.measuredAt } } : {}),
    }))
    .sort((a, b) => a.kind.localeCompare(b.kind) || a.resourceId.localeCompare(b.resourceId));
  return { plan: plan.name, rpoSeconds: rpo, resources };
}

function resourceView(s: LagSample, rpo: number): LagResourceView {
  return {
    resourceId: s.resourceId,
    kind: s.kind,
    name: s.name,
    ...(s.group !== undefined ? { group: s.group } : {}),
    lagSeconds: s.lagSeconds,
    state: s.state,
    measuredAt: s.measuredAt,
    source: s.source,
    ...(s.primary !== undefined ? { primary: s.primary } : {}),
    withinRpo: withinRpo(s, rpo),
    ...(s.error !== undefined ? { error: s.error } : {}),
  };
}

/** The text `switchyard lag` prints: one line per resource, then a verdict line. */
export function formatLagView(view: LagView): string {
  const rows = view.resources.map((r) => [
    r.kind === "sqlDatabase" ? `sql ${groupName(r.group)}/${r.name}` : `storage ${r.name}`,
    r.lagSeconds === null ? "unknown" : `${r.lagSeconds} s`,
    r.state,
    r.measuredAt,
    r.withinRpo === null ? `unknown${r.error ? ` (${r.error})` : ""}` : r.withinRpo ? "within RPO" : "OVER RPO",
  ]);
  const header = ["resource", "lag", "state", "measured", `RPO ${view.rpoSeconds} s`];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!))).join("  ");
  const over = view.resources.filter((r) => r.withinRpo === false).length;
  const unknown = view.resources.filter((r) => r.withinRpo === null).length;
  const verdict =
    view.resources.length === 0
      ? `plan ${view.plan} has no geo-replicated resources`
      : over === 0 && unknown === 0
        ? `${view.resources.length} resource(s) of ${view.plan}: all within the RPO of ${view.rpoSeconds} s`
        : `${view.resources.length} resource(s) of ${view.plan}: ${over} over the RPO of ${view.rpoSeconds} s, ${unknown} unknown`;
  return [line(header), ...rows.map(line), verdict].join("\n");
}

const groupName = (id: string | undefined) => (id ? id.split("/").at(-1) : "?");
