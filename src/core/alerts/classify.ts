import type { z } from "zod";
import type { Signal } from "../detection/model.ts";
import { asArray, isObject } from "../guards.ts";
import { formatPath } from "../plan/load.ts";
import type { Plan } from "../plan/schema.ts";
import { redactText } from "../secrets.ts";
import { commonAlertSchema, isCostService, MAX_ALERT_BODY_BYTES, type MonitorCondition, type ParsedAlert } from "./schema.ts";

/**
 * Azure Monitor alerts (common alert schema) → which plan and region they concern → health signals.
 *
 * Pure: no I/O, no clock (the caller passes `now`), never throws. `parseAlert` validates any JSON
 * value and says what is wrong and where; `classifyAlert` decides the alert's kind, maps it to plans
 * and regions, and turns it into one signal per (plan, region), or says why it is ignored.
 */

export const ALERT_KINDS = [
  "metric-static",
  "metric-dynamic",
  "availability-test",
  "log-search-v1",
  "log-search-v2",
  "activity-log-administrative",
  "activity-log-policy",
  "activity-log-autoscale",
  "activity-log-security",
  "resource-health",
  "service-health",
  "smart-detection",
  "prometheus",
  "budget",
  "unknown",
] as const;
export type AlertKind = (typeof ALERT_KINDS)[number];

export type AlertDedupeKey = `${string}:${MonitorCondition}`;

export interface AlertMatch {
  readonly plan: string;
  readonly region: string;
  /** Why this alert concerns this region, for the journal (one line). */
  readonly why: string;
}

export interface AlertDecision {
  readonly kind: AlertKind;
  /** `${alertId}:${monitorCondition}`: action groups retry, and the same alert must count once. */
  readonly dedupeKey: AlertDedupeKey;
  /** The (plan, region) pairs the alert concerns, at most one per pair; listed even when ignored, to explain. */
  readonly matches: readonly AlertMatch[];
  /** One signal per match; empty when `ignoredReason` is set. */
  readonly signals: readonly Signal[];
  /** Set when the alert records nothing: why, for the 200 answer and the journal. */
  readonly ignoredReason?: string;
}

export type ParseAlertResult =
  | { readonly ok: true; readonly alert: ParsedAlert }
  | { readonly ok: false; readonly reason: string; readonly path?: string };

/** The reason given for an alert that no plan names, by resource or by rule. */
export const NO_MATCH_REASON = "no plan names this alert's resources or rule";

// ---- parsing ----------------------------------------------------------------------------------

/**
 * Validates a parsed JSON body against the common alert schema. Never throws: any value (including
 * ones JSON cannot produce) gets `ok: false` with the first problem and its path, e.g.
 * `data.essentials.monitorCondition: must be "Fired" or "Resolved"`.
 */
export function parseAlert(body: unknown): ParseAlertResult {
  try {
    if (!isObject(body)) {
      return { ok: false, reason: `the body must be a JSON object (got ${describeType(body)})` };
    }
    const result = commonAlertSchema.safeParse(body);
    if (result.success) return { ok: true, alert: result.data };
    const issue = result.error.issues[0];
    if (!issue) return { ok: false, reason: "not a common alert schema payload" };
    const path = formatPath(issue.path);
    const message = describeIssue(issue);
    return path ? { ok: false, reason: `${path}: ${message}`, path } : { ok: false, reason: message };
  } catch (error) {
    // Only exotic inputs get here (getters that throw, revoked proxies): never JSON.
    return { ok: false, reason: `the body cannot be read (${error instanceof Error ? error.name : typeof error})` };
  }
}

/** `parseAlert` for raw request text: checks the size cap and the JSON syntax first. */
export function parseAlertText(text: string): ParseAlertResult {
  if (Buffer.byteLength(text, "utf8") > MAX_ALERT_BODY_BYTES) {
    return { ok: false, reason: `the body is larger than ${MAX_ALERT_BODY_BYTES / 1024} KiB` };
  }
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    // The parser's message quotes the body, which may hold anything: name the problem only.
    return { ok: false, reason: "the body is not valid JSON" };
  }
  return parseAlert(body);
}

function describeType(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  return typeof value === "object" ? "an object" : `a ${typeof value}`;
}

function describeIssue(issue: z.core.$ZodIssue): string {
  // Issues carry no input (zod's reportInput is off: a body's values stay out of reasons unless quoted on purpose).
  if (issue.code === "invalid_type" && issue.message.endsWith("received undefined")) return "required";
  if (issue.code === "invalid_type") return issue.message.replace(/^Invalid input: /, "");
  return issue.message;
}

// ---- kinds ------------------------------------------------------------------------------------

const lower = (v: unknown): string => (typeof v === "string" ? v.trim().toLowerCase() : "");

/** monitoringService values that name the kind outright (lower-case). */
const KIND_BY_SERVICE: ReadonlyMap<string, AlertKind> = new Map(Object.entries({
  "log alerts v2": "log-search-v2",
  "log analytics": "log-search-v1",
  "application insights": "log-search-v1",
  "activity log - administrative": "activity-log-administrative",
  "activity log - policy": "activity-log-policy",
  "activity log - autoscale": "activity-log-autoscale",
  "activity log - security": "activity-log-security",
  "resource health": "resource-health",
  resourcehealth: "resource-health",
  servicehealth: "service-health",
  "service health": "service-health",
  smartdetector: "smart-detection",
  "smart detector": "smart-detection",
  prometheus: "prometheus",
} satisfies Record<string, AlertKind>)); // A Map: a monitoringService of "constructor" must find nothing.

/** Metric alert condition types (alertContext.conditionType). */
const KIND_BY_CONDITION: ReadonlyMap<string, AlertKind> = new Map(Object.entries({
  singleresourcemultiplemetriccriteria: "metric-static",
  multipleresourcemultiplemetriccriteria: "metric-static",
  dynamicthresholdcriteria: "metric-dynamic",
  webtestlocationavailabilitycriteria: "availability-test",
  logquerycriteria: "log-search-v2",
} satisfies Record<string, AlertKind>));

/**
 * The alert's kind. Decision table (first row that holds wins):
 *
 * | monitoringService                          | alertContext                                   | kind                    |
 * | ------------------------------------------ | ---------------------------------------------- | ----------------------- |
 * | CostAlerts (Budget...)                     | —                                              | budget                  |
 * | SmartDetector                              | —                                              | smart-detection         |
 * | Prometheus                                 | —                                              | prometheus              |
 * | ServiceHealth                              | —                                              | service-health          |
 * | Resource Health                            | —                                              | resource-health         |
 * | Activity Log - Administrative/Policy/...   | —                                              | activity-log-*          |
 * | Log Alerts V2                              | —                                              | log-search-v2           |
 * | Log Analytics, Application Insights        | —                                              | log-search-v1           |
 * | anything else (Platform, unknown)          | conditionType DynamicThresholdCriteria         | metric-dynamic          |
 * |                                            | conditionType Single/MultipleResource...       | metric-static           |
 * |                                            | conditionType WebtestLocationAvailability...   | availability-test       |
 * |                                            | conditionType LogQueryCriteria                 | log-search-v2           |
 * |                                            | SearchQuery (a v1 log alert; the docs label    | log-search-v1           |
 * |                                            | one sample "monitoringService = Platform")     |                         |
 * |                                            | AlertData.BudgetName / AlertCategory budgets   | budget                  |
 * |                                            | SmartDetectorId                                | smart-detection         |
 * |                                            | expression + ruleGroup (prometheusRuleGroups)  | prometheus              |
 * |                                            | operationName Microsoft.ServiceHealth/...      | service-health          |
 * |                                            | operationName Microsoft.ResourceHealth/...     | resource-health         |
 * |                                            | eventSource Administrative/Policy/Autoscale/Security | activity-log-*    |
 * | otherwise                                  |                                                | unknown                 |
 */
export function alertKind(alert: ParsedAlert): AlertKind {
  const service = lower(alert.essentials.monitoringService);
  if (isCostService(service)) return "budget";
  const byService = KIND_BY_SERVICE.get(service);
  if (byService) return byService;

  const ctx = alert.alertContext;
  const byCondition = KIND_BY_CONDITION.get(lower(ctx.conditionType));
  if (byCondition) return byCondition;
  if (typeof ctx.SearchQuery === "string") return "log-search-v1";
  if (isObject(ctx.AlertData) && (typeof ctx.AlertData.BudgetName === "string" || lower(ctx.AlertCategory) === "budgets")) return "budget";
  if (typeof ctx.SmartDetectorId === "string") return "smart-detection";
  if (typeof ctx.expression === "string" && lower(ctx.ruleGroup).includes("/prometheusrulegroups/")) return "prometheus";
  const operation = lower(ctx.operationName);
  if (operation.startsWith("microsoft.servicehealth/")) return "service-health";
  if (operation.startsWith("microsoft.resourcehealth/")) return "resource-health";
  const eventSource = lower(ctx.eventSource);
  if (eventSource === "administrative") return "activity-log-administrative";
  if (eventSource === "policy") return "activity-log-policy";
  if (eventSource === "autoscale") return "activity-log-autoscale";
  if (eventSource === "security") return "activity-log-security";
  return "unknown";
}

/**
 * Kinds that are no evidence of a region's health on their own. An alert of one of these kinds counts
 * only when the plan names its rule in `alertRules` (the operator's explicit word beats the kind).
 */
const NOT_HEALTH_EVIDENCE: Partial<Record<AlertKind, string>> = {
  budget: "budget and cost alerts say nothing about a region's health",
  "activity-log-autoscale": "autoscale events are capacity changes, not outages",
  "activity-log-policy": "policy compliance events are not health evidence",
  "activity-log-administrative": "administrative operations (who changed what) are not health evidence",
  "activity-log-security": "security events are not availability evidence",
  unknown: "Switchyard does not recognise this kind of alert",
};

// ---- mapping to plans and regions ---------------------------------------------------------------

interface Dimension {
  readonly name: string;
  readonly value: string;
}

/** Lower-case, no trailing slash: ARM ids compare case-insensitively. */
const normId = (id: string) => id.trim().replace(/\/+$/, "").toLowerCase();
const isSelfOrChild = (target: string, anchor: string) => target === anchor || target.startsWith(`${anchor}/`);
/** `eastus2`, `East US 2`, `east-us-2` → `eastus2`. */
export const normaliseRegion = (name: string) => name.toLowerCase().replace(/[^a-z0-9]/g, "");
const dimName = (name: string) => name.toLowerCase().replace(/[^a-z0-9]/g, "");

/** The last `type/name` of an ARM id, or the id itself (for the journal). */
function shortName(id: string): string {
  const parts = id.replace(/\/+$/, "").split("/");
  const providers = parts.findIndex((p) => p.toLowerCase() === "providers");
  return providers >= 0 && parts.length > providers + 3 ? parts.slice(providers + 3).filter((_, i) => i % 2 === 0).join("/") : id;
}

/** Dimensions of metric and v2 log alerts (condition.allOf[].dimensions) and of v1 log alerts (Dimensions). */
function dimensionsOf(ctx: Readonly<Record<string, unknown>>): Dimension[] {
  const out: Dimension[] = [];
  const take = (list: unknown) => {
    for (const d of asArray(list).slice(0, 100)) {
      if (isObject(d) && typeof d.name === "string" && typeof d.value === "string") out.push({ name: dimName(d.name), value: d.value.trim() });
    }
  };
  const condition = isObject(ctx.condition) ? ctx.condition : undefined;
  for (const criterion of asArray(condition?.allOf).slice(0, 100)) if (isObject(criterion)) take(criterion.dimensions);
  take(ctx.Dimensions);
  return out;
}

const valuesOf = (dims: readonly Dimension[], ...names: string[]) => dims.filter((d) => names.includes(d.name)).map((d) => d.value);

/**
 * The region a host name serves, as far as the plan says: a classic Front Door backend address, or
 * the default host name of one of the plan's App Service sites (`{site}.azurewebsites.net`).
 */
function regionOfHost(plan: Plan, host: string): string | undefined {
  const h = host.toLowerCase();
  for (const fd of plan.frontDoor.classic) {
    for (const [region, address] of Object.entries(fd.backends)) if (address.toLowerCase() === h) return region;
  }
  const site = /^([a-z0-9-]+)\.azurewebsites\.net$/.exec(h)?.[1];
  if (site) {
    const entry = plan.appService.find((s) => s.site.name.toLowerCase() === site);
    if (entry) return entry.region ?? plan.regions.primary.name;
  }
  return undefined;
}

/**
 * Regions of `plan` that one alert target concerns (resource-id mapping):
 * - a SQL failover group's own server (and anything under it: databases, the group) → the plan's
 *   primary region; the partner server (and anything under it) → the secondary region;
 * - a storage account (and its services) → the plan's primary region (the account's primary endpoint
 *   in steady state; Switchyard does not track where a failed-over account's primary went);
 * - an App Service site (and slots, config...) → its `region`, else the plan's primary region;
 * - an AFD origin under a plan origin group → the region that origin serves; the origin group or its
 *   profile → the region of the origin named by the alert's `Origin` dimension (an origin name, or a
 *   host name the plan knows), if any; otherwise nothing;
 * - a classic Front Door → the region of the backend named by the alert's `Backend` dimension, if any.
 */
function regionsOfTarget(plan: Plan, target: string, dims: readonly Dimension[]): { region: string; why: string }[] {
  const t = normId(target);
  const out: { region: string; why: string }[] = [];
  const primary = plan.regions.primary.name;
  const secondary = plan.regions.secondary.name;
  const name = shortName(target);

  plan.sql.forEach((g, i) => {
    const server = normId(g.failoverGroup.id).split("/").slice(0, 9).join("/");
    if (isSelfOrChild(t, server)) out.push({ region: primary, why: `${name} is under SQL server ${g.failoverGroup.names[0]} (sql[${i}], ${primary})` });
    else if (isSelfOrChild(t, normId(g.partnerServer.id))) {
      out.push({ region: secondary, why: `${name} is under SQL partner server ${g.partnerServer.name} (sql[${i}], ${secondary})` });
    }
  });
  plan.storage.forEach((s, i) => {
    if (isSelfOrChild(t, normId(s.account.id))) out.push({ region: primary, why: `${name} is storage account ${s.account.name} (storage[${i}], primary ${primary})` });
  });
  plan.appService.forEach((s, i) => {
    const region = s.region ?? primary;
    if (isSelfOrChild(t, normId(s.site.id))) out.push({ region, why: `${name} is under site ${s.site.name} (appService[${i}], ${region})` });
  });

  const origins = valuesOf(dims, "origin", "originname");
  plan.frontDoor.standard.forEach((g, i) => {
    const group = normId(g.originGroup.id);
    const profile = group.split("/").slice(0, 9).join("/");
    const originRegion = (origin: string) =>
      Object.entries(g.origins).find(([, o]) => o.toLowerCase() === origin.toLowerCase())?.[0] ?? regionOfHost(plan, origin);
    if (t.startsWith(`${group}/origins/`)) {
      const origin = t.slice(group.length + "/origins/".length).split("/")[0] ?? "";
      const region = originRegion(origin);
      if (region) out.push({ region, why: `${name} is origin ${origin} of origin group ${g.originGroup.name} (frontDoor.standard[${i}], ${region})` });
      return;
    }
    const onGroup = t === group || (isSelfOrChild(t, profile) && !t.startsWith(`${profile}/origingroups/`));
    if (!onGroup) return;
    const groups = valuesOf(dims, "origingroup", "origingroupname");
    if (groups.length > 0 && !groups.some((v) => v.toLowerCase() === g.originGroup.name.toLowerCase())) return;
    for (const origin of origins) {
      const region = originRegion(origin);
      if (region) out.push({ region, why: `origin ${origin} of ${g.originGroup.names[0]}/${g.originGroup.name} (frontDoor.standard[${i}], ${region})` });
    }
  });

  const backends = valuesOf(dims, "backend", "backendname", "backendaddress");
  plan.frontDoor.classic.forEach((f, i) => {
    if (!isSelfOrChild(t, normId(f.frontDoor.id))) return;
    const pools = valuesOf(dims, "backendpool", "backendpoolname");
    if (pools.length > 0 && !pools.some((v) => v.toLowerCase() === f.backendPool.toLowerCase())) return;
    for (const backend of backends) {
      const region = Object.entries(f.backends).find(([, b]) => b.toLowerCase() === backend.toLowerCase())?.[0];
      if (region) out.push({ region, why: `backend ${backend} of Front Door ${f.frontDoor.name} (frontDoor.classic[${i}], ${region})` });
    }
  });
  return out;
}

/**
 * Regions a Service Health event impacts, as ARM names (`East US 2` → `eastus2`), from
 * `properties.impactedServices` (a JSON string: `[{ServiceName, ImpactedRegions: [{RegionName}]}]`),
 * or `properties.region` when that is missing or unreadable.
 */
function serviceHealthImpact(ctx: Readonly<Record<string, unknown>>): { regions: Map<string, string>; services: string[] } {
  const properties = isObject(ctx.properties) ? ctx.properties : {};
  const regions = new Map<string, string>(); // normalised → as displayed
  const services: string[] = [];
  let impacted: unknown = properties.impactedServices;
  if (typeof impacted === "string") {
    try {
      impacted = JSON.parse(impacted);
    } catch {
      impacted = undefined;
    }
  }
  for (const service of asArray(impacted).slice(0, 200)) {
    if (!isObject(service)) continue;
    if (typeof service.ServiceName === "string") services.push(service.ServiceName);
    for (const r of asArray(service.ImpactedRegions).slice(0, 200)) {
      if (isObject(r) && typeof r.RegionName === "string") regions.set(normaliseRegion(r.RegionName), r.RegionName);
    }
  }
  if (regions.size === 0 && typeof properties.region === "string") {
    for (const r of properties.region.split(",")) if (r.trim()) regions.set(normaliseRegion(r), r.trim());
  }
  if (services.length === 0 && typeof properties.service === "string") services.push(properties.service);
  return { regions, services };
}

// ---- status -----------------------------------------------------------------------------------

type Verdict = { readonly status: "up" | "down"; readonly note: string } | { readonly ignore: string };

/** What the alert says about the regions it concerns. */
function verdictOf(kind: AlertKind, alert: ParsedAlert): Verdict {
  const fired = alert.essentials.monitorCondition === "Fired";
  const ctx = alert.alertContext;
  const properties = isObject(ctx.properties) ? ctx.properties : {};
  if (kind === "resource-health") {
    // Activity log alerts never resolve: each health transition fires again, with the new status.
    if (!fired) return { status: "up", note: "resolved" };
    const current = lower(properties.currentHealthStatus);
    if (lower(properties.cause) === "userinitiated") {
      return { ignore: "Resource Health reports a user-initiated change (a stop, restart or scale), not a platform outage" };
    }
    if (current === "available") return { status: "up", note: "Resource Health: Available" };
    if (current === "unavailable" || current === "degraded") return { status: "down", note: `Resource Health: ${current === "degraded" ? "Degraded" : "Unavailable"}` };
    return { ignore: `Resource Health status is ${current ? `"${String(properties.currentHealthStatus).slice(0, 40)}"` : "missing"}: no evidence either way` };
  }
  if (kind === "service-health") {
    const type = lower(properties.incidentType);
    if (type !== "incident") {
      return { ignore: `Service Health ${type ? `"${String(properties.incidentType).slice(0, 40)}"` : "event without an incident type"} is not a service incident (only incidents count)` };
    }
    if (!fired) return { status: "up", note: "resolved" };
    const stage = lower(properties.stage) || lower(ctx.status);
    if (["resolved", "mitigated", "rca", "complete", "closed"].includes(stage)) return { status: "up", note: `Service Health incident ${stage}` };
    return { status: "down", note: "Service Health incident active" };
  }
  return fired ? { status: "down", note: "fired" } : { status: "up", note: "resolved" };
}

// ---- classification ---------------------------------------------------------------------------

/** One line for people: no control characters, no URLs (they may carry tokens), bounded length. */
function oneLine(text: string, max = 300): string {
  const clean = text.replace(/https?:\/\/[^\s"'<>]+/gi, "[url]").replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]+/g, " ").replace(/\s{2,}/g, " ").trim();
  return clean.length > max ? `${clean.slice(0, max - 1)}…` : clean;
}

/**
 * What classifyAlert looks up in the plans, built once per plans array (the catalogs hand out the same
 * array until the plans change): plans by alert rule, and plans by the ids of the resources whose
 * alerts they map (SQL servers, storage accounts, sites, Front Door profiles and origin groups, classic
 * Front Doors). An alert then costs the same with 200 plans as with one: only the plans that name its
 * rule or one of its targets' ancestors are examined.
 */
interface PlansIndex {
  readonly byRule: ReadonlyMap<string, ReadonlySet<Plan>>;
  readonly byResource: ReadonlyMap<string, ReadonlySet<Plan>>;
}

const INDEXES = new WeakMap<readonly Plan[], PlansIndex>();

function indexOf(plans: readonly Plan[]): PlansIndex {
  const known = INDEXES.get(plans);
  if (known) return known;
  const byRule = new Map<string, Set<Plan>>();
  const byResource = new Map<string, Set<Plan>>();
  const add = (map: Map<string, Set<Plan>>, key: string, plan: Plan) => map.set(key, (map.get(key) ?? new Set<Plan>()).add(plan));
  for (const plan of plans) {
    for (const r of plan.alertRules) add(byRule, r.rule.trim().toLowerCase(), plan);
    const ids = [
      ...plan.sql.flatMap((g) => [normId(g.failoverGroup.id).split("/").slice(0, 9).join("/"), normId(g.partnerServer.id)]),
      ...plan.storage.map((s) => normId(s.account.id)),
      ...plan.appService.map((s) => normId(s.site.id)),
      ...plan.frontDoor.standard.flatMap((g) => [normId(g.originGroup.id), normId(g.originGroup.id).split("/").slice(0, 9).join("/")]),
      ...plan.frontDoor.classic.map((f) => normId(f.frontDoor.id)),
    ];
    for (const id of ids) add(byResource, id, plan);
  }
  const index = { byRule, byResource };
  INDEXES.set(plans, index);
  return index;
}

/** The plans that map a resource of `target` or one of its ancestors (at most 100 targets are read). */
function plansOfTargets(index: PlansIndex, targets: readonly string[]): Set<Plan> {
  const found = new Set<Plan>();
  for (const target of targets.slice(0, 100)) {
    const segments = normId(target).split("/");
    for (let end = segments.length; end > 1; end--) for (const plan of index.byResource.get(segments.slice(0, end).join("/")) ?? []) found.add(plan);
  }
  return found;
}

/**
 * Classifies a parsed alert against the plans: its kind, the (plan, region) pairs it concerns and the
 * signals to record, or why it is ignored. Never throws.
 *
 * Mapping, per plan:
 * 1. Rules: when the plan's `alertRules` names the alert's rule (case-insensitively), the rule's region
 *    is the match, whatever the kind and the targets (the operator's explicit word wins).
 * 2. Otherwise: Service Health → the plan's regions among the impacted ones; every other kind → the
 *    alert's target ids against the plan's resources (see `regionsOfTarget`).
 *
 * Then: kinds that are no health evidence (budget, autoscale, policy, administrative, security,
 * unknown) are ignored unless a rule matched; Resource Health and Service Health content decides the
 * status (and ignores user-initiated changes, unknown status and non-incident events, rule or not);
 * an alert that matches no plan is ignored with `NO_MATCH_REASON`.
 *
 * Signals: source "alert", name `alert:<rule name>` (redacted: rule names come from outside), down
 * for Fired / up for Resolved (Resource and Service Health: as their content says), with the alert's
 * kind, at `now`: the time the webhook received the alert. An alert's own times (firedDateTime,
 * resolvedDateTime) are the sender's word: one dated in the past would make its signal "down for"
 * longer than anything has observed, and one in the future would outlive the outage. So the signal is
 * dated at its receipt, never before and never after; the alert's own time is quoted in the detail.
 */
export function classifyAlert(alert: ParsedAlert, plans: readonly Plan[], now: Date): AlertDecision {
  const e = alert.essentials;
  const kind = alertKind(alert);
  const dedupeKey: AlertDedupeKey = `${e.alertId}:${e.monitorCondition}`;
  const rule = e.alertRule.trim().toLowerCase();
  const dims = dimensionsOf(alert.alertContext);
  const impact = kind === "service-health" ? serviceHealthImpact(alert.alertContext) : undefined;

  const matches: AlertMatch[] = [];
  /** Matches made by a plan's alertRules (the only ones that count for kinds that are no health evidence). */
  const byRule: AlertMatch[] = [];
  const index = indexOf(plans);
  const ruledPlans = index.byRule.get(rule);
  const targeted = impact ? undefined : plansOfTargets(index, e.alertTargetIDs);
  for (const plan of plans) {
    // Plans that neither name the rule nor map a target (nor Service Health regions) cannot match.
    if (!ruledPlans?.has(plan) && targeted && !targeted.has(plan)) continue;
    const found: { region: string; why: string }[] = [];
    plan.alertRules.forEach((r, i) => {
      if (r.rule.trim().toLowerCase() === rule) found.push({ region: r.region, why: `rule "${r.rule}" is named in alertRules[${i}] (${r.region})` });
    });
    // A rule decides the regions for its plan; without one, Service Health by region, the rest by resource.
    const ruled = found.length > 0;
    if (!ruled && impact) {
      for (const region of [plan.regions.primary.name, plan.regions.secondary.name]) {
        const shown = impact.regions.get(normaliseRegion(region));
        if (shown !== undefined) {
          const services = impact.services.length > 0 ? ` for ${impact.services.slice(0, 3).join(", ")}` : "";
          found.push({ region, why: `Service Health names ${shown}${services}` });
        }
      }
    } else if (!ruled) {
      for (const target of e.alertTargetIDs.slice(0, 100)) found.push(...regionsOfTarget(plan, target, dims));
    }
    // One match per (plan, region): the first reason is the one shown.
    const seen = new Set<string>();
    for (const f of found) {
      if (seen.has(f.region)) continue;
      seen.add(f.region);
      const match = { plan: plan.name, region: f.region, why: oneLine(f.why, 200) };
      matches.push(match);
      if (ruled) byRule.push(match);
    }
  }

  const ignored = (reason: string): AlertDecision => ({ kind, dedupeKey, matches, signals: [], ignoredReason: oneLine(reason) });
  const notEvidence = NOT_HEALTH_EVIDENCE[kind];
  if (notEvidence && byRule.length === 0) {
    const what = kind === "unknown" ? ` (monitoringService "${oneLine(e.monitoringService, 60)}")` : "";
    return ignored(`${notEvidence}${what}; name its rule in the plan's alertRules to count it`);
  }
  const verdict = verdictOf(kind, alert);
  if ("ignore" in verdict) return ignored(verdict.ignore);
  if (matches.length === 0) return ignored(NO_MATCH_REASON);

  // Dated at receipt (see above). An invalid `now` (never from a real clock) falls back to the alert's time instead of throwing.
  const stated = e.monitorCondition === "Resolved" ? (e.resolvedDateTime ?? e.firedDateTime) : e.firedDateTime;
  const at = Number.isFinite(now.getTime()) ? now.toISOString() : stated;
  const target = e.alertTargetIDs[0];
  const on = target ? ` on ${shortName(target)}` : "";
  const counted = notEvidence ? byRule : matches;
  const ruleName = redactText(e.alertRule);
  const signals: Signal[] = counted.map((m) => ({
    plan: m.plan,
    region: m.region,
    source: "alert",
    name: `alert:${ruleName}`,
    status: verdict.status,
    at,
    detail: redactText(oneLine(`${kind} alert "${ruleName}" ${e.monitorCondition} at ${stated}${e.severity ? ` (${e.severity})` : ""}${on}: ${verdict.note}; ${m.why}`)),
    alertKind: kind,
  }));
  return { kind, dedupeKey, matches: counted, signals };
}
