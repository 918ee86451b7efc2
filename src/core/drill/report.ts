/**
 * A planned drill's Markdown report: how it ended and why, each run's RTO and RPO exposure, and the
 * plan's RTO trend over its last drills. Pure and deterministic (no clock, no locale).
 */
import { drillTrend, durationText, formatTrend, runLine, TREND_RULE, type DrillHistory, type DrillRecord } from "./history.ts";

/** Text from outside (a caller's name or reason, a stored field) as inline Markdown: one line, no markup of its own. */
function inline(value: string): string {
  return value.replace(/[\r\n]+/g, " ").replace(/([\\`*_[\]<>|])/g, "\\$1");
}

/**
 * Text from outside as an inline code span: one line, fenced by more backticks than it holds in a row
 * (so that it cannot close its span), pipes escaped (a table cell's own, even in a code span).
 */
function code(value: string): string {
  const line = value.replace(/[\r\n]+/g, " ").replace(/\|/g, "\\|");
  const longest = Math.max(0, ...(line.match(/`+/g) ?? []).map((run) => run.length));
  const fence = "`".repeat(longest + 1);
  const pad = longest > 0 || line.startsWith("`") || line.endsWith("`") ? " " : "";
  return `${fence}${pad}${line}${pad}${fence}`;
}

function triggerText(record: DrillRecord): string {
  const t = record.trigger;
  return `${t.kind} by ${inline(t.by)}${t.reason ? `: ${inline(t.reason)}` : ""}`;
}

/** The report of `record`, with the trend of `history` (the plan's history including this drill). */
export function renderDrillReport(record: DrillRecord, history: Pick<DrillHistory, "drills">): string {
  const lines: string[] = [];
  const add = (...more: string[]) => lines.push(...more);
  add(`# Switchyard drill ${code(record.drillId)}`, "");
  add(`Planned drill of **${inline(record.plan)}**: **${inline(record.outcome)}** — ${inline(record.reason)}`, "");
  add(`- **Drill:** ${code(record.drillId)} (mode ${inline(record.mode)})`);
  add(`- **Trigger:** ${triggerText(record)}`);
  add(`- **Started → ended:** ${inline(record.startedAt)} → ${inline(record.endedAt)}`);
  add(`- **Time scale:** ${record.timeScale === 1 ? "1 (Azure's own durations: RTOs are measured)" : `${record.timeScale} (RTOs are local seconds × ${record.timeScale}, projected to Azure durations: an upper bound)`}`);
  add("");
  add("## Runs", "");
  if (record.runs.length === 0) add("No run was started.");
  else {
    add("| run | from → to | outcome | RTO (Azure time) | target | RPO exposure | data loss allowed by | report |");
    add("| --- | --- | --- | --- | --- | --- | --- | --- |");
    for (const run of record.runs) {
      const rto = run.rtoSeconds === null ? "not reached" : `${durationText(run.rtoSeconds)}${run.rtoProjected ? ` (projected; ${run.rtoLocalSeconds ?? "?"} s local)` : ""}`;
      const target = run.rtoTargetSeconds === null ? "?" : durationText(run.rtoTargetSeconds);
      const rpo = run.rpoExposureSeconds === null ? "unknown" : `${run.rpoExposureSeconds} s`;
      add(`| ${inline(run.kind)} ${code(run.runId)} | ${inline(run.from)} → ${inline(run.to)} | ${inline(run.outcome)} | ${rto} | ${target} | ${rpo} | ${inline(run.dataLossAllowedBy ?? "unknown")} | ${run.report ? code(run.report) : "—"} |`);
    }
    add("");
    for (const run of record.runs) add(`- ${inline(runLine(run))}`);
  }
  add("");
  const trend = drillTrend(history);
  add("## RTO trend", "");
  add(inline(formatTrend(trend)), "");
  if (trend.rtos.length > 0) {
    add("| drill | ended | failover RTO |");
    add("| --- | --- | --- |");
    for (const p of trend.rtos) add(`| ${code(p.drillId)} | ${inline(p.endedAt)} | ${durationText(p.rtoSeconds)}${p.projected ? " (projected)" : ""} |`);
    add("");
  }
  add(`Median: ${trend.medianSeconds === null ? "none" : durationText(trend.medianSeconds)}. Direction: ${trend.direction ?? "none yet"}. Rule: ${TREND_RULE}.`, "");
  return lines.join("\n");
}
