/**
 * One secret's rotation as a durable orchestration (core/rotation/model.ts): its five steps in order,
 * each an idempotent activity, resumed after a crash from the last step it finished (Durable replays
 * the history; a step that was under way runs again and finds its own work by the rotation's tag).
 *
 * Waits, all on durable timers (Azure time divided by the input's time scale):
 *   - a step refused because a failover or failback holds the plan is tried again every
 *     DEFER_POLL_MS until the run ends (at most MAX_DEFER_MS): the rotation never changes Azure during a
 *     run, and a run that starts during a step waits for that step only (rotation/gate.ts). Every
 *     DEFER_ROUNDS_PER_EXECUTION waits it continues as new, carrying its progress, so its history stays
 *     bounded however long the run takes;
 *   - the apps' pick-up of the new version is applied and verified again every VERIFY_POLL_MS, up to
 *     VERIFY_ATTEMPTS times (App Service fetches a reference again when told to; the old credential
 *     stays valid meanwhile);
 *   - any other retryable failure is tried again after 30 s doubling, MAX_ATTEMPTS times.
 * A step that fails for good ends the rotation failed before the old credential is retired (the old
 * version and key stay valid), notified as such.
 */
import type * as df from "durable-functions";
import type { ActivityResult } from "../core/run/model.ts";
import {
  ROTATION_STEPS,
  RotationActivities,
  RotationErrors,
  type RotationInput,
  type RotationOutput,
  type RotationProgress,
  type RotationStep,
  type StepReport,
  type VaultVersion,
} from "../core/rotation/model.ts";
import type { RecordInput, RotationNotice } from "../rotation/activities.ts";

type Gen<T> = Generator<df.Task, T, any>;

export const DEFER_POLL_MS = 5 * 60_000;
export const MAX_DEFER_MS = 24 * 3600_000;
export const VERIFY_POLL_MS = 30_000;
export const VERIFY_ATTEMPTS = 20;
export const MAX_ATTEMPTS = 5;
/**
 * Waits for a run per execution before the rotation continues as new (an hour at DEFER_POLL_MS): a
 * rotation that waits out a day-long run keeps a history of one hour's waits.
 */
export const DEFER_ROUNDS_PER_EXECUTION = 12;
const BACKOFF_MS = 30_000;

export function* rotateSecret(context: df.OrchestrationContext): Gen<RotationOutput | undefined> {
  const input = context.df.getInput<RotationInput>();
  const scale = input.timeScale && input.timeScale > 0 ? input.timeScale : 1;
  const now = () => context.df.currentUtcDateTime.getTime();
  const at = () => context.df.currentUtcDateTime.toISOString();
  const base = { rotationId: input.rotationId, plan: input.plan, secret: input.secret };
  const progress = input.progress;
  const steps: StepReport[] = [...(progress?.steps ?? [])];
  let versions: readonly VaultVersion[] = progress?.versions ?? [];
  let credential: string | undefined = progress?.credential;
  let deferrals = progress?.deferrals ?? 0;
  let notices = progress?.notices ?? 0;

  const record = (entries: RecordInput["entries"]) => context.df.callActivity(RotationActivities.record, { rotationId: input.rotationId, entries } satisfies RecordInput);
  const notify = (notice: Omit<RotationNotice, "rotationId" | "plan" | "secret" | "n" | "at">) =>
    context.df.callActivity(RotationActivities.notify, { ...base, n: ++notices, at: at(), ...notice } satisfies RotationNotice);
  const wait = (ms: number) => context.df.createTimer(new Date(now() + Math.max(1, Math.round(ms / scale))));
  const status = (step: RotationStep | "done", extra: Record<string, unknown> = {}) => context.df.setCustomStatus({ kind: "rotation", ...base, step, deferrals, ...extra });

  if (!progress) yield record([{ kind: "decision", at: at(), message: `rotation of ${input.secret} started (${triggerText(input.trigger)})`, data: { secret: input.secret, trigger: input.trigger } }]);

  const fail = function* (step: RotationStep, error: string): Gen<RotationOutput> {
    status("done", { outcome: "failed" });
    yield record([{ kind: "decision", at: at(), step, message: `rotation of ${input.secret} failed at ${step}: ${error}`, data: { outcome: "failed", step, error } }]);
    yield notify({ kind: "secret-rotation-failed", severity: "critical", step, error, steps: steps.map((s) => s.summary), versions });
    return { ...base, outcome: "failed", steps, versions, ...(credential ? { credential } : {}), failedStep: step, error, deferrals };
  };

  for (let index = progress?.step ?? 0; index < ROTATION_STEPS.length; index++) {
    const step = ROTATION_STEPS[index]!;
    let attempts = 0;
    let verifyRounds = 0;
    let deferredSince: number | undefined = index === progress?.step ? progress.deferredSince : undefined;
    let waits = 0;
    for (;;) {
      status(step, { attempts });
      const result: ActivityResult<StepReport> = yield context.df.callActivity(RotationActivities[step], { ...base, step });
      if (result.ok) {
        steps.push(result.value);
        if (result.value.created) credential = result.value.created.credential;
        if (result.value.versions) versions = result.value.versions;
        yield record([{ kind: "step-finished", at: at(), step, message: result.value.summary, data: { outcome: "ok", durationMs: result.value.durationMs, detail: result.value.summary } }]);
        break;
      }
      const error = result.error;
      // A wait for a run that ended is over: a later one in this step counts from its own start.
      if (error.code !== RotationErrors.runInProgress) deferredSince = undefined;
      if (error.code === RotationErrors.runInProgress) {
        if (deferredSince === undefined) {
          deferredSince = now();
          deferrals++;
          yield record([{ kind: "wait", at: at(), step, message: `${step} deferred: ${error.message}`, data: { reason: error.message } }]);
          if (deferrals === 1) yield notify({ kind: "secret-rotation-deferred", severity: "info", step, error: error.message, steps: [], versions });
        }
        if (now() - deferredSince >= MAX_DEFER_MS / scale) return yield* fail(step, `a run held the plan for more than ${MAX_DEFER_MS / 3600_000} h: ${error.message}`);
        yield wait(DEFER_POLL_MS);
        if (++waits >= DEFER_ROUNDS_PER_EXECUTION) {
          const next: RotationProgress = { step: index, steps, versions, ...(credential ? { credential } : {}), deferrals, deferredSince, notices, execution: (progress?.execution ?? 1) + 1 };
          context.df.continueAsNew({ ...input, progress: next } satisfies RotationInput);
          return undefined;
        }
        continue;
      }
      if (step === "verify" && error.code === RotationErrors.notYetInUse && verifyRounds < VERIFY_ATTEMPTS) {
        verifyRounds++;
        yield wait(VERIFY_POLL_MS);
        // Told again: a site that restarted or missed the refresh fetches its references now.
        const again: ActivityResult<StepReport> = yield context.df.callActivity(RotationActivities.apply, { ...base, step: "apply" });
        if (!again.ok && !again.error.retryable) return yield* fail("apply", again.error.message);
        continue;
      }
      if (error.retryable && error.code !== RotationErrors.notYetInUse && attempts < MAX_ATTEMPTS - 1) {
        attempts++;
        yield record([{ kind: "wait", at: at(), step, message: `${step} failed (${error.message}); trying again (attempt ${attempts + 1} of ${MAX_ATTEMPTS})`, data: { error: error.message, code: error.code, attempt: attempts + 1 } }]);
        yield wait(BACKOFF_MS * 2 ** (attempts - 1));
        continue;
      }
      return yield* fail(step, error.message);
    }
  }

  status("done", { outcome: "rotated" });
  yield record([{ kind: "decision", at: at(), message: `rotation of ${input.secret} finished: ${versions.map((v) => `${v.vault}/${v.version}`).join(", ")}`, data: { outcome: "rotated", credentialName: credential, versions: versions.map((v) => `${v.vault}/${v.version}`) } }]);
  yield notify({ kind: "secret-rotated", severity: "info", steps: steps.map((s) => s.summary), versions, ...(credential ? { credential } : {}) });
  return { ...base, outcome: "rotated", steps, versions, ...(credential ? { credential } : {}), deferrals };
}

function triggerText(trigger: RotationInput["trigger"]): string {
  switch (trigger.kind) {
    case "event":
      return `Key Vault event ${trigger.eventType.replace(/^Microsoft\.KeyVault\./, "")} ${trigger.eventId}`;
    case "sweep":
      return "the daily expiry sweep";
    case "operator":
      return `requested by ${trigger.by}: ${trigger.reason}`;
    case "cli":
      return `switchyard secrets rotate, by ${trigger.by}`;
  }
}
