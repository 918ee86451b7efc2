/**
 * The attributes Switchyard's spans and metrics may carry: a fixed set of names, each value checked
 * against the secret rules of src/core/secrets.ts (a value that looks like a secret is dropped, not
 * masked: nothing of it is kept), strings capped in length. Anything else is not recorded. URLs are
 * recorded as scheme, host and path only (a query may hold a SAS signature, a function key or a token).
 */
import type { Attributes } from "@opentelemetry/api";
import { secretRule } from "../core/secrets.ts";

/** Attribute names, by what they describe. */
export const Attr = {
  runId: "switchyard.run.id",
  plan: "switchyard.plan",
  kind: "switchyard.run.kind",
  mode: "switchyard.run.mode",
  outcome: "switchyard.outcome",
  from: "switchyard.run.from",
  to: "switchyard.run.to",
  step: "switchyard.step",
  activity: "switchyard.activity",
  attempt: "switchyard.attempt",
  errorCode: "switchyard.error.code",
  retryable: "switchyard.error.retryable",
  rtoSeconds: "switchyard.run.rto_seconds",
  rtoTargetSeconds: "switchyard.run.rto_target_seconds",
  rpoExposureSeconds: "switchyard.run.rpo_exposure_seconds",
  rpoBudgetSeconds: "switchyard.rpo.budget_seconds",
  withinBudget: "switchyard.rpo.within_budget",
  dataLossAllowedBy: "switchyard.run.data_loss_allowed_by",
  decision: "switchyard.detection.decision",
  journaled: "switchyard.detection.journaled",
  trigger: "switchyard.trigger",
  resourceId: "resourceId",
  resourceKind: "kind",
  resourceName: "name",
  lagState: "state",
  lagPlan: "plan",
  invocationId: "faas.invocation_id",
  // HTTP client (OpenTelemetry semantic conventions) and Azure's request ids.
  method: "http.request.method",
  url: "url.full",
  host: "server.address",
  status: "http.response.status_code",
  errorType: "error.type",
  serviceRequestId: "az.service_request_id",
  clientRequestId: "az.client_request_id",
  asyncOperation: "switchyard.azure.async_operation",
  azureErrorCode: "switchyard.azure.error_code",
  // SQL over TDS.
  dbSystem: "db.system.name",
  dbNamespace: "db.namespace",
} as const;

const ALLOWED = new Set<string>(Object.values(Attr));
const MAX_TEXT = 512;

/** `attributes` reduced to the allowed names, with no value that looks like a secret. */
export function safeAttributes(attributes: Readonly<Record<string, unknown>>): Attributes {
  const out: Attributes = {};
  for (const [name, value] of Object.entries(attributes)) {
    if (!ALLOWED.has(name) || value === undefined || value === null) continue;
    if (typeof value === "number") {
      if (Number.isFinite(value)) out[name] = value;
    } else if (typeof value === "boolean") {
      out[name] = value;
    } else if (typeof value === "string") {
      const text = value.slice(0, MAX_TEXT);
      if (secretRule(undefined, text) === undefined) out[name] = text;
    }
  }
  return out;
}

/** `https://host/path` of a URL: no user info, no query, no fragment. Undefined when it does not parse. */
export function urlWithoutQuery(url: string): string | undefined {
  try {
    const parsed = new URL(url);
    return `${parsed.protocol}//${parsed.host}${parsed.pathname}`;
  } catch {
    return undefined;
  }
}

/** An error code from Azure (`ResourceNotFound`, `FailoverGroupNotFound`): letters, digits and `._-`, or nothing. */
export function errorCodeText(value: unknown): string | undefined {
  return typeof value === "string" && /^[A-Za-z0-9._-]{1,100}$/.test(value) ? value : undefined;
}
