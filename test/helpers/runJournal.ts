import { runFinishedEntry, runStartedEntry, stepFinishedEntry, stepStartedEntry } from "../../src/core/run/entries.ts";
import type { RunInput, RunOutput } from "../../src/core/run/model.ts";
import type { Plan } from "../../src/core/plan/index.ts";
import type { JournalEntry } from "../../src/journal/journal.ts";

const SUB = "/subscriptions/6b1f8e2a-3c4d-4e5f-8a9b-0c1d2e3f4a5b/resourceGroups";
export const FOG = `${SUB}/contoso-orders-eastus2/providers/Microsoft.Sql/servers/contoso-orders-sql-eastus2/failoverGroups/contoso-orders-fog`;
export const ORIGIN_GROUP = `${SUB}/contoso-orders-global/providers/Microsoft.Cdn/profiles/contoso-orders-afd/originGroups/web`;

/** 2025-03-01T10:00:00Z plus `s` seconds, as ISO. */
export const t = (s: number) => new Date(Date.UTC(2025, 2, 1, 10, 0, 0) + s * 1000).toISOString();

/**
 * A realistic failover journal: eastus2 down, lag above RPO so the run waits for approval, a forced SQL
 * failover, a Front Door switch, verification. Step durations: assess 1.5 s, measure 2.25 s, approval
 * 95 s, data tier 42 s, traffic 2 min 5 s, verify 3.75 s.
 */
export function failoverJournal(plan: Plan, runId = "contoso-orders-20250301T100000Z"): { input: RunInput; entries: JournalEntry[]; output: RunOutput } {
  const input: RunInput = {
    runId,
    kind: "failover",
    mode: "auto",
    plan,
    from: "eastus2",
    to: "centralus",
    trigger: { source: "alert", by: "alert rule orders-availability", reason: "eastus2 health endpoints failing", detectedAt: t(-60) },
  };
  const steps = [
    { step: "assess-regions", startedAt: t(0.5), endedAt: t(2) },
    { step: "measure-replication", startedAt: t(2), endedAt: t(4.25) },
    { step: "await-approval", startedAt: t(4.25), endedAt: t(99.25) },
    { step: "data-tier", startedAt: t(99.25), endedAt: t(141.25) },
    { step: "switch-traffic", startedAt: t(141.25), endedAt: t(266.25) },
    { step: "verify", startedAt: t(266.25), endedAt: t(270) },
  ] as const;
  const output: RunOutput = {
    runId,
    kind: "failover",
    outcome: "completed",
    from: "eastus2",
    to: "centralus",
    steps: steps.map((s) => ({ ...s, outcome: "ok" as const })),
    rtoSeconds: 330,
    rtoTargetSeconds: 1800,
    rpoExposureSeconds: 420,
    rpoBudgetSeconds: 300,
    dataLossAllowedBy: "approval",
    message: "centralus is primary and verified",
  };
  const entries: JournalEntry[] = [runStartedEntry(input, t(0))];
  const step = (i: number, inner: JournalEntry[]) => {
    const s = steps[i]!;
    entries.push(stepStartedEntry(runId, s.step, s.startedAt), ...inner, stepFinishedEntry(runId, { ...s, outcome: "ok" }));
  };
  step(0, [
    {
      runId,
      at: t(1.9),
      kind: "decision",
      step: "assess-regions",
      message: "eastus2 is down and centralus is healthy: fail over",
      data: {
        quorum: 2,
        downSignals: 3,
        target: { region: "centralus", healthy: true },
        probes: [
          { url: "https://contoso-orders-eastus2.azurewebsites.net/healthz", ok: false, status: 503, ms: 12 },
          { url: "https://contoso-orders-centralus.azurewebsites.net/healthz", ok: true, status: 200, ms: 9 },
        ],
      },
    },
  ]);
  step(1, [
    {
      runId,
      at: t(4.2),
      kind: "decision",
      step: "measure-replication",
      message: "lag 420 s is above the RPO budget of 300 s: a forced failover needs an approval",
      data: { maxLagSeconds: 420, rpoSeconds: 300, allowDataLoss: false, sql: [{ failoverGroup: FOG, lagSeconds: 420, replicationState: "CATCH_UP" }] },
    },
  ]);
  step(2, [
    { runId, at: t(4.3), kind: "wait", step: "await-approval", message: "waiting for approval of a data-loss failover", data: { event: "approval", timeoutMinutes: 30 } },
    { runId, at: t(99), kind: "wait", step: "await-approval", message: "approved", data: { result: "approved", by: "alice@contoso.com", reason: "eastus2 outage confirmed by Azure status page" } },
  ]);
  step(3, [
    { runId, at: t(100), kind: "operation", step: "data-tier", message: `FailoverGroups_ForceFailoverAllowDataLoss accepted for ${FOG}`, data: { resourceId: FOG, operation: "FailoverGroups_ForceFailoverAllowDataLoss", status: "running", resumeToken: '{"state":{}}' } },
    { runId, at: t(140), kind: "operation", step: "data-tier", message: `FailoverGroups_ForceFailoverAllowDataLoss succeeded for ${FOG}`, data: { resourceId: FOG, operation: "FailoverGroups_ForceFailoverAllowDataLoss", status: "succeeded" } },
    { runId, at: t(141), kind: "write", step: "data-tier", message: `FailoverGroups_ForceFailoverAllowDataLoss on ${FOG}: Succeeded`, data: { resourceId: FOG, operation: "FailoverGroups_ForceFailoverAllowDataLoss", requestIds: ["5d1e7c2a-0001", "5d1e7c2a-0002"], result: "Succeeded" } },
  ]);
  step(4, [
    { runId, at: t(266), kind: "write", step: "switch-traffic", message: `AFDOrigins_Update on ${ORIGIN_GROUP}: Succeeded`, data: { resourceId: ORIGIN_GROUP, operation: "AFDOrigins_Update", requestIds: ["9a8b-0003"], result: "Succeeded" } },
  ]);
  step(5, [{ runId, at: t(269), kind: "decision", step: "verify", message: "centralus verified: every health endpoint answers 200", data: { checks: ["healthz 200", "api healthz 200"] } }]);
  entries.push(
    { runId, at: t(3), kind: "notification", step: "notify", message: "critical failover-started: eastus2 is down", data: { event: "failover-started", severity: "critical", plan: plan.name } },
    { runId, at: t(271), kind: "notification", step: "notify", message: "info failover-completed: centralus is primary", data: { event: "failover-completed", severity: "info", plan: plan.name } },
  );
  entries.push(runFinishedEntry(output, t(272)));
  return { input, entries, output };
}
