/**
 * The Azure Monitor alert webhook: validate, classify, record the alert as a health signal of the plan
 * and region it speaks for, and let detection decide (which may start a run; the run itself proceeds
 * asynchronously). Answers 202 (recorded), 200 (ignored, with the reason) or 400 (invalid, with the
 * reason and the field), and never 5xx because of a body.
 */
import type { HttpRequest, HttpResponseInit } from "@azure/functions";
import type { Logger } from "../core/logger.ts";
import { classifyAlert, MAX_ALERT_BODY_BYTES, parseAlertText } from "../core/alerts/index.ts";
import type { EvaluationSummary } from "../detection/evaluate.ts";
import { evaluatePlan, type EvaluateDeps } from "../detection/evaluate.ts";
import type { PlanCatalog } from "../plan/catalog.ts";
import { json } from "./errors.ts";
import { SpanKind } from "@opentelemetry/api";
import { Attr } from "../telemetry/attributes.ts";
import { inSpan, recordWebhook, Spans } from "../telemetry/telemetry.ts";

export interface AlertWebhookDeps extends EvaluateDeps {
  readonly plans: PlanCatalog;
  readonly log: Logger;
  /** Secure webhook: validates the Entra token (undefined: function key only). */
  readonly validateToken?: (authorization: string | null) => Promise<{ ok: true } | { ok: false; status: number; reason: string; retryable?: boolean }>;
}

/**
 * The webhook, observed: a span per request (detection's Azure calls and the run start are its
 * children) and its handling time as `switchyard.webhook.duration`, by outcome (the answer's status
 * word, or the HTTP status when it has none).
 */
export function alertWebhook(deps: AlertWebhookDeps) {
  const handle = handleAlert(deps);
  return async (request: HttpRequest): Promise<HttpResponseInit> => {
    const began = performance.now();
    let outcome = "error";
    try {
      return await inSpan(
        { name: Spans.webhook, kind: SpanKind.SERVER },
        async () => {
          const answer = await handle(request);
          outcome = outcomeOf(answer);
          return answer;
        },
        (answer) => ((answer.status ?? 200) >= 500 ? { code: outcome, attributes: { [Attr.status]: answer.status, [Attr.outcome]: outcome } } : undefined),
      );
    } finally {
      recordWebhook(performance.now() - began, outcome);
    }
  };
}

/** `recorded`, `ignored`, `invalid`, `retry` (the answer's status word), else `http-<status>` (401, 503 for keys). */
function outcomeOf(answer: HttpResponseInit): string {
  const body = answer.jsonBody as { status?: unknown } | undefined;
  return typeof body?.status === "string" ? body.status : `http-${answer.status ?? 200}`;
}

function handleAlert(deps: AlertWebhookDeps) {
  return async (request: HttpRequest): Promise<HttpResponseInit> => {
    if (deps.validateToken) {
      const verdict = await deps.validateToken(request.headers.get("authorization"));
      if (!verdict.ok) {
        if (verdict.retryable) return json(503, { error: { code: "SigningKeysUnavailable", message: verdict.reason } }, { "Retry-After": "30" });
        return json(401, { error: { code: "Unauthorized", message: verdict.reason } });
      }
    }
    let text: string;
    try {
      text = await request.text();
    } catch {
      return json(400, { status: "invalid", error: { code: "UnreadableBody", message: "the request body could not be read" } });
    }
    if (Buffer.byteLength(text) > MAX_ALERT_BODY_BYTES) {
      return json(413, { status: "invalid", error: { code: "PayloadTooLarge", message: `an alert body is at most ${MAX_ALERT_BODY_BYTES} bytes` } });
    }
    const parsed = parseAlertText(text);
    if (!parsed.ok) return json(400, { status: "invalid", error: { code: "InvalidAlert", message: parsed.reason, ...(parsed.path ? { path: parsed.path } : {}) } });
    const alert = parsed.alert;
    const now = deps.clock();
    const plans = await deps.plans.list();
    const decision = classifyAlert(alert, plans, now);
    const about = { alertId: alert.essentials.alertId, kind: decision.kind, monitorCondition: alert.essentials.monitorCondition };
    if (decision.ignoredReason) {
      deps.log.info("alert ignored", { ...about, reason: decision.ignoredReason });
      return json(200, { status: "ignored", reason: decision.ignoredReason, ...about });
    }
    const results: { plan: string; region: string; duplicate: boolean; started?: string; decision: string }[] = [];
    const byPlan = new Map<string, typeof decision.signals[number][]>();
    for (const signal of decision.signals) byPlan.set(signal.plan, [...(byPlan.get(signal.plan) ?? []), signal]);
    try {
      for (const [planName, signals] of byPlan) {
        const plan = plans.find((p) => p.name === planName);
        if (!plan) continue;
        const summary: EvaluationSummary = await evaluatePlan(plan, signals, deps, { trigger: "alert", dedupeKey: decision.dedupeKey });
        for (const s of signals) {
          results.push({
            plan: planName,
            region: s.region,
            duplicate: summary.duplicate === true,
            decision: summary.decision.start ? "failover started" : summary.decision.reason,
            ...(summary.started ? { started: summary.started.runId } : {}),
          });
        }
      }
    } catch (error) {
      // The body was fine; Switchyard's own storage or run start failed. 503 makes the action group retry.
      deps.log.error("alert could not be recorded", { ...about, error: error instanceof Error ? error.message : String(error) });
      return json(503, { status: "retry", error: { code: "TemporarilyUnavailable", message: "the alert could not be recorded; retry" } }, { "Retry-After": "10" });
    }
    // A retry records nothing, but its evaluation may start the run an earlier delivery could not (level-triggered): then 202.
    if (results.length > 0 && results.every((r) => r.duplicate && !r.started)) {
      return json(200, { status: "ignored", reason: "duplicate: this alert and condition were already recorded", ...about });
    }
    const started = results.find((r) => r.started)?.started;
    return json(202, { status: "recorded", ...about, signals: results, ...(started ? { runStarted: started, statusUrl: `/api/runs/${started}` } : {}) });
  };
}
