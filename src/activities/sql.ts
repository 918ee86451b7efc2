import type { FailoverGroup, SqlManagementClient } from "@azure/arm-sql";
import { createPipelineRequest, type PipelineResponse } from "@azure/core-rest-pipeline";
import { AzureRequestError, PreconditionError, SwitchyardError } from "../core/errors.ts";
import { ancestorId, type Plan } from "../core/plan/index.ts";
import { Activities, type DataTierInput, type DataTierResult, type OperationPollInput, type OperationPollResult, type PendingOperation } from "../core/run/model.ts";
import { normaliseAzureError } from "./azureErrors.ts";
import { idsWith, planEntry } from "./dataTier.ts";
import type { ActivityDeps } from "./deps.ts";
import { planRegion } from "./health.ts";
import { journalAccepted, journalEnded, journalSending, keyOfPending, OperationEndedError, readInFlight, watchOf, type OperationKey } from "./operations.ts";
import { journalWrite } from "./writes.ts";

const STEP = Activities.failoverSqlGroup;
const PLANNED = "FailoverGroups_Failover";
const TRY_PLANNED = "FailoverGroups_TryPlannedBeforeForcedFailover";
const FORCED = "FailoverGroups_ForceFailoverAllowDataLoss";
type FailoverOperation = typeof PLANNED | typeof TRY_PLANNED | typeof FORCED;

/**
 * The api-version in which Azure made `tryPlannedBeforeForcedFailover` generally available (the first
 * stable Microsoft.Sql version whose FailoverGroups spec has it). @azure/arm-sql 10 has no method for
 * it, so it is sent through the SDK client's own pipeline (same credential, retries and endpoint).
 */
export const TRY_PLANNED_API_VERSION = "2023-08-01";

/**
 * Polling a failover group operation: Azure says a friendly failover typically completes within a
 * minute and a forced one in about 30 s, so every 10 s of Azure time; the run stops waiting after
 * 15 minutes (grace beyond any documented duration) and fails the step, which a new run resumes.
 */
const POLL_SECONDS = 10;
const DEADLINE_SECONDS = 15 * 60;
/** A failover that may have been sent, with no token to poll: its name in the pending operation, and how long the group is watched. */
const UNCONFIRMED = " (unconfirmed)";
const UNCONFIRMED_DEADLINE_SECONDS = 5 * 60;

/** A failover group of the plan, as seen from the server in one region. */
export interface SqlGroupInRegion {
  /** The plan's id of the failover group (under the plan's primary server): the group's identity in results. */
  readonly groupId: string;
  readonly name: string;
  readonly subscriptionId: string;
  readonly resourceGroup: string;
  /** The server in the region. */
  readonly server: string;
  readonly serverId: string;
}

/** plan.sql[index] seen from `region`: the plan's primary server there, the partner server in the other region. */
export function sqlGroupIn(plan: Plan, index: number, region: string): SqlGroupInRegion {
  const entry = planEntry(plan.sql, index, "sql");
  const fg = entry.failoverGroup;
  const server = planRegion(plan, region) === plan.regions.primary
    ? { id: ancestorId(fg, 1), resourceGroup: fg.resourceGroup, name: fg.names[0]! }
    : { id: entry.partnerServer.id, resourceGroup: entry.partnerServer.resourceGroup, name: entry.partnerServer.name };
  return { groupId: fg.id, name: fg.name, subscriptionId: fg.subscriptionId, resourceGroup: server.resourceGroup, server: server.name, serverId: server.id };
}

/** Reads the failover group from the server in the group's region (the role is as that server sees it). */
export async function readFailoverGroup(deps: Pick<ActivityDeps, "clients">, group: SqlGroupInRegion): Promise<FailoverGroup> {
  try {
    return await deps.clients.sql(group.subscriptionId).failoverGroups.get(group.resourceGroup, group.server, group.name);
  } catch (error) {
    throw normaliseAzureError(error, "FailoverGroups_Get", `${group.serverId}/failoverGroups/${group.name}`);
  }
}

const methodOf = (operation: FailoverOperation): DataTierResult["method"] => (operation === PLANNED ? "planned" : "forced");

/**
 * Starts the failover that makes the group primary on its server in `input.to`, and returns it as a
 * pending operation for the run to poll; never waits for it. Every request goes to the server in the
 * target region (the one Azure designs failover for), so it works while the other region's control
 * plane is down.
 *
 * - An operation an earlier attempt of this run started (journaled with its resume token) is returned
 *   as pending again: never sent twice.
 * - Already primary in `input.to`: nothing to do.
 * - Data loss not allowed: a planned failover (`FailoverGroups_Failover`), which Azure only completes
 *   with both servers reachable.
 * - Data loss allowed (RPO gate or approval): `tryPlannedBeforeForcedFailover`, which is planned while
 *   the partner answers and forced otherwise. The decision is Azure's: Switchyard never reads an error's
 *   wording to choose between them.
 */
export async function failoverSqlGroup(input: DataTierInput, deps: ActivityDeps): Promise<DataTierResult> {
  const group = sqlGroupIn(input.plan, input.index, input.to);
  const keyOf = (operation: FailoverOperation): OperationKey => ({ runId: input.runId, step: STEP, resourceId: group.groupId, operation });
  const inFlight = await readInFlight(deps, input.runId, { shared: true });
  for (const operation of [TRY_PLANNED, FORCED, PLANNED] as const) {
    const token = inFlight.tokenOf(keyOf(operation));
    if (token !== undefined) {
      deps.log.info(`${operation} of ${group.name} is in flight: watching it`, logFields(input, group));
      return { resourceId: group.groupId, changed: true, method: methodOf(operation), requestIds: [], pending: pendingOf(input, group, operation, deps) };
    }
  }
  const current = await readFailoverGroup(deps, group);
  if (current.replicationRole === "Primary") {
    deps.log.info(`failover group ${group.name} is already primary in ${input.to}`, logFields(input, group));
    return { resourceId: group.groupId, changed: false, method: "none", requestIds: [] };
  }
  // An earlier attempt died between sending a failover and journaling Azure's answer: the failover may
  // be under way. A failover group shows no operation in progress, so the group is watched (a failover
  // ends within minutes) instead of sending a second one; past the deadline the step fails and a new
  // run decides on the state it then reads.
  for (const operation of [TRY_PLANNED, FORCED, PLANNED] as const) {
    if (!inFlight.unconfirmed(keyOf(operation))) continue;
    deps.log.warn(`${operation} of ${group.name} may have been sent by an attempt that did not record Azure's answer: watching the group`, logFields(input, group));
    return { resourceId: group.groupId, changed: true, method: methodOf(operation), requestIds: [], pending: { ...pendingOf(input, group, `${operation}${UNCONFIRMED}`, deps), deadlineSeconds: UNCONFIRMED_DEADLINE_SECONDS } };
  }
  const operation: FailoverOperation = input.allowDataLoss ? TRY_PLANNED : PLANNED;
  await journalSending(deps, keyOf(operation));
  const capture = { ids: [] as string[] };
  const write = (result: string, ids: readonly string[]) =>
    journalWrite(deps, { runId: input.runId, step: STEP, resourceId: group.groupId, operation, requestIds: ids, result, details: { server: group.serverId, region: input.to, allowDataLoss: input.allowDataLoss } });
  let token: string;
  try {
    token = await beginFailover(deps, group, operation, capture.ids);
  } catch (error) {
    const failure = normaliseAzureError(error, operation, `${group.serverId}/failoverGroups/${group.name}`);
    const ids = idsWith(capture.ids, failure);
    if (ids.length > 0) await write(`refused: ${failure.message}`, ids);
    // Azure's answer is known (a refusal): nothing is under way, and a later attempt may send again.
    if (failure instanceof AzureRequestError && failure.details.status !== undefined) await journalEnded(deps, keyOf(operation), { ok: false, error: failure.message });
    if (operation === PLANNED && !failure.retryable && failure instanceof AzureRequestError && failure.details.status !== undefined && failure.details.status < 500) {
      throw new PreconditionError(
        `planned failover of ${group.name} to ${input.to} was refused, and a forced failover (possible data loss) is not allowed for this run: ${failure.message}`,
        "PlannedFailoverImpossible",
        failure,
      );
    }
    throw failure;
  }
  await journalAccepted(deps, keyOf(operation), token, capture.ids);
  await write("accepted", capture.ids);
  deps.log.info(`${operation} of ${group.name} to ${input.to} accepted`, logFields(input, group));
  return { resourceId: group.groupId, changed: true, method: methodOf(operation), requestIds: [...capture.ids], pending: pendingOf(input, group, operation, deps) };
}

/**
 * Polls a failover group operation once. Succeeded → journals the end and says how the group failed
 * over (a try-planned that Azure had to force is reported as forced: it may have lost data). Failed
 * or Canceled → journals the end and throws OperationEndedError (polling again would see the same end;
 * the run may start the failover again, with the decision it already took). A poll that could not be
 * answered is retryable.
 */
export async function pollSqlFailover(input: OperationPollInput, deps: ActivityDeps): Promise<OperationPollResult> {
  const { pending } = input;
  const operation = pending.operation as FailoverOperation;
  const index = Number(pending.context.index);
  const to = String(pending.context.to);
  const group = sqlGroupIn(input.plan, index, to);
  const key = keyOfPending(input.runId, pending);
  const resourceId = `${group.serverId}/failoverGroups/${group.name}`;
  const capture = { ids: [] as string[] };
  if (pending.operation.endsWith(UNCONFIRMED)) {
    // No token: the group itself says whether the failover that may have been sent went through.
    const seen = await readFailoverGroup(deps, group);
    if (seen.replicationRole !== "Primary") return { status: "running", requestIds: [] };
    await journalEnded(deps, { ...key, operation: pending.operation.slice(0, -UNCONFIRMED.length) }, { ok: true });
    return { status: "succeeded", requestIds: [], method: methodOf(pending.operation.slice(0, -UNCONFIRMED.length) as FailoverOperation) };
  }
  const watch = await watchOf(deps, input.runId, pending);
  if ("ended" in watch) return { status: "succeeded", requestIds: [], method: methodOf(operation) };
  let state: { done: false; retryAfterSeconds?: number } | { done: true };
  try {
    state = await pollFailover(deps, group, watch.token, capture.ids);
  } catch (error) {
    const failure = normaliseAzureError(error, operation, resourceId);
    if (failure.retryable) throw failure;
    await journalEnded(deps, key, { ok: false, error: failure.message });
    throw new OperationEndedError(`${operation} of ${group.name} to ${to} ended without failing over: ${failure.message}`, failure instanceof AzureRequestError ? failure.details : { operation, resourceId }, failure);
  }
  if (!state.done) return { status: "running", requestIds: [...capture.ids], ...(state.retryAfterSeconds !== undefined ? { retryAfterSeconds: state.retryAfterSeconds } : {}) };
  // The operation says Succeeded; the group, read from the target server, says whether it is primary
  // there (and whether Azure had to force it: the replication state shows no partner in sync).
  const group2 = await readFailoverGroup(deps, group);
  if (group2.replicationRole !== "Primary") {
    await journalEnded(deps, key, { ok: false, error: "the operation succeeded but the group is not primary in the target region" });
    throw new SwitchyardError(`${operation} of ${group.name} ended, but ${group.server} is not primary`, { code: "FailoverNotApplied", retryable: false });
  }
  await journalEnded(deps, key, { ok: true });
  deps.log.info(`${operation} of ${group.name} to ${to} succeeded`, logFields({ runId: input.runId, plan: input.plan, to }, group));
  return { status: "succeeded", requestIds: [...capture.ids], method: methodOf(operation) };
}

/** The operation handed to the run to watch (its resume token is in the journal: see watchOf). */
function pendingOf(input: DataTierInput, group: SqlGroupInRegion, operation: string, deps: ActivityDeps): PendingOperation {
  return {
    poll: Activities.pollSqlFailover,
    resourceId: group.groupId,
    operation,
    pollSeconds: POLL_SECONDS,
    deadlineSeconds: DEADLINE_SECONDS,
    context: { step: STEP, index: input.index, to: input.to },
  };
}

function logFields(input: { runId: string; plan: Plan; to: string }, group: SqlGroupInRegion) {
  return { runId: input.runId, plan: input.plan.name, resourceId: group.groupId, region: input.to };
}

// ---- the failover requests, through the SDK client's own pipeline ---------------------------------
//
// One request starts the operation and nothing polls inside the start: a poll there that failed (a
// 429 or 5xx after Azure had accepted the POST) would lose the accepted operation and send it again.
// @azure/arm-sql 10 has no method for tryPlannedBeforeForcedFailover, and its begin… methods poll once
// before returning, so all three go through the client's pipeline (same credential, retries, endpoint).

const ACTIONS: Record<FailoverOperation, string> = {
  [PLANNED]: "failover",
  [FORCED]: "forceFailoverAllowDataLoss",
  [TRY_PLANNED]: "tryPlannedBeforeForcedFailover",
};

interface FailoverToken {
  readonly kind: "sqlFailover";
  readonly operation: FailoverOperation;
  /** The Azure-AsyncOperation URL, when Azure sent one (status in the body). */
  readonly asyncUrl?: string;
  /** The Location URL (202 while running, 200 when done, the failure's status when failed). */
  readonly location?: string;
}

async function beginFailover(deps: ActivityDeps, group: SqlGroupInRegion, operation: FailoverOperation, ids: string[]): Promise<string> {
  const client: SqlManagementClient = deps.clients.sql(group.subscriptionId);
  const url = `${deps.clients.resourceManagerUrl}${group.serverId}/failoverGroups/${encodeURIComponent(group.name)}/${ACTIONS[operation]}?api-version=${TRY_PLANNED_API_VERSION}`;
  const response = await client.sendRequest(createPipelineRequest({ url, method: "POST" }));
  noteRequestId(response, ids);
  if (response.status === 200) return JSON.stringify({ kind: "sqlFailover", operation } satisfies FailoverToken);
  if (response.status === 202) {
    const asyncUrl = response.headers.get("azure-asyncoperation");
    const location = response.headers.get("location");
    if (!asyncUrl && !location) throw new SwitchyardError(`${operation} was accepted without a URL to poll`, { code: "UnexpectedResponse", retryable: false });
    return JSON.stringify({ kind: "sqlFailover", operation, ...(asyncUrl ? { asyncUrl } : {}), ...(location ? { location } : {}) } satisfies FailoverToken);
  }
  throw armError(response, operation);
}

/**
 * One poll. With an Azure-AsyncOperation URL the body's status decides (Failed/Canceled end it for
 * good). With only a Location URL: 202 running, 200 done; a 4xx with an ARM error ended it; a 5xx is
 * ambiguous (a passing fault, or the operation's end), so the group itself says: primary in the target
 * region → done; otherwise retryable, and the orchestration's retry limit bounds how often it is asked.
 */
async function pollFailover(deps: ActivityDeps, group: SqlGroupInRegion, token: string, ids: string[]): Promise<{ done: false; retryAfterSeconds?: number } | { done: true }> {
  const parsed = parseToken(token);
  const client: SqlManagementClient = deps.clients.sql(group.subscriptionId);
  const retryAfterOf = (response: PipelineResponse) => {
    const value = response.headers.get("retry-after");
    return value && /^\d+$/.test(value) ? { retryAfterSeconds: Number(value) } : {};
  };
  if (parsed.asyncUrl) {
    const response = await client.sendRequest(createPipelineRequest({ url: parsed.asyncUrl, method: "GET" }));
    noteRequestId(response, ids);
    if (response.status !== 200) throw armError(response, parsed.operation);
    const body = parseJson(response.bodyAsText ?? undefined) as { status?: unknown; error?: { code?: unknown; message?: unknown } } | undefined;
    const status = typeof body?.status === "string" ? body.status.toLowerCase() : "";
    if (status === "succeeded") return { done: true };
    if (status === "failed" || status === "canceled" || status === "cancelled") {
      const code = typeof body?.error?.code === "string" ? body.error.code : status;
      const message = typeof body?.error?.message === "string" ? body.error.message : `the operation ended ${body?.status as string}`;
      throw new AzureRequestError(`${parsed.operation} ended ${String(body?.status)}: ${code}: ${message}`, { operation: parsed.operation, azureCode: code }, { retryable: false });
    }
    return { done: false, ...retryAfterOf(response) };
  }
  if (!parsed.location) return { done: true };
  const response = await client.sendRequest(createPipelineRequest({ url: parsed.location, method: "GET" }));
  noteRequestId(response, ids);
  if (response.status === 202) return { done: false, ...retryAfterOf(response) };
  if (response.status === 200 || response.status === 204) return { done: true };
  if (response.status >= 500) {
    const current = await readFailoverGroup(deps, group);
    if (current.replicationRole === "Primary") return { done: true };
    throw armError(response, parsed.operation);
  }
  const failure = armError(response, parsed.operation);
  throw new AzureRequestError(`${parsed.operation} ended failed: ${failure.message}`, { operation: parsed.operation, status: response.status }, { retryable: false });
}

function parseJson(text: string | undefined): unknown {
  try {
    return JSON.parse(text ?? "");
  } catch {
    return undefined;
  }
}

function parseToken(token: string): FailoverToken {
  const value = parseJson(token) as Partial<FailoverToken> | undefined;
  const ok =
    value?.kind === "sqlFailover" &&
    typeof value.operation === "string" &&
    value.operation in ACTIONS &&
    (value.asyncUrl === undefined || typeof value.asyncUrl === "string") &&
    (value.location === undefined || typeof value.location === "string");
  if (ok) return value as FailoverToken;
  throw new SwitchyardError("the resume token of a SQL failover is not one Switchyard wrote", { code: "InvalidInput", retryable: false });
}

function noteRequestId(response: PipelineResponse, ids: string[]): void {
  const id = response.headers.get("x-ms-request-id");
  if (id && !ids.includes(id)) ids.push(id);
}

/** An ARM error answer as the SDK would raise it (status, code, message, headers), for normaliseAzureError. */
function armError(response: PipelineResponse, operation: string): Error {
  let code: string | undefined;
  let message = `${operation} answered ${response.status}`;
  try {
    const body = JSON.parse(response.bodyAsText ?? "") as { error?: { code?: unknown; message?: unknown } };
    if (typeof body.error?.code === "string") code = body.error.code;
    if (typeof body.error?.message === "string") message = body.error.message;
  } catch {
    // not JSON: the status says enough
  }
  return Object.assign(new Error(message), { statusCode: response.status, code, response: { headers: response.headers } });
}
