/**
 * The rotation's activities as the durable host calls them: the five steps (steps.ts), the journal of
 * the orchestration's own entries, and its notifications (through the notify activity's delivery: the
 * plan's channels, the outbox, deduplicated by event id). Failures come back as data (wrapActivity).
 */
import { notifyActivity, type NotifyDeps } from "../activities/notify.ts";
import { wrapActivity } from "../activities/wrap.ts";
import { withKeys } from "../core/logger.ts";
import type { NotificationFact, NotificationKind, Severity } from "../core/notification.ts";
import { RotationActivities, type RotationActivityName, type RotationStep, type RotationStepInput, type VaultVersion } from "../core/rotation/model.ts";
import type { ActivityResult } from "../core/run/model.ts";
import { redactText } from "../core/secrets.ts";
import type { JournalEntry } from "../core/journal.ts";
import { requireEntry } from "../journal/guard.ts";
import { SwitchyardError } from "../core/errors.ts";
import { applyStep, createStep, replicateStep, retireStep, verifyStep, type RotationDeps } from "./steps.ts";

/** Entries the orchestration journals (the activity adds the rotation id). */
export interface RecordInput {
  readonly rotationId: string;
  readonly entries: readonly (Omit<JournalEntry, "runId" | "message" | "data"> & { readonly message: string; readonly data?: Record<string, unknown> })[];
}

/** A notification of a rotation: what the orchestration knows, without values. */
export interface RotationNotice {
  readonly rotationId: string;
  readonly plan: string;
  readonly secret: string;
  /** The notice's number in its rotation (the event id is `{rotationId}.{n}.{kind}`). */
  readonly n: number;
  readonly at: string;
  readonly kind: Extract<NotificationKind, "secret-rotated" | "secret-rotation-failed" | "secret-rotation-deferred">;
  readonly severity: Severity;
  readonly step?: RotationStep;
  readonly error?: string;
  readonly credential?: string;
  readonly steps: readonly string[];
  readonly versions: readonly VaultVersion[];
}

/** What the rotation activities need: the steps' dependencies and the notify activity's. */
export type RotationActivityDeps = RotationDeps & Omit<NotifyDeps, keyof RotationDeps | "probe" | "pollIntervalMs"> & Pick<NotifyDeps, "probe" | "pollIntervalMs">;

/** The incident of a secret's rotations: opened by a failure, closed by the next rotation that succeeds. */
export function rotationIncidentKey(plan: string, secret: string): string {
  return `switchyard/${plan}/secrets/${secret.toLowerCase()}`;
}

async function recordActivity(input: RecordInput, deps: RotationDeps): Promise<null> {
  for (const entry of input.entries) {
    await deps.journal.append(requireEntry({ ...entry, runId: input.rotationId, message: redactText(entry.message) }));
  }
  return null;
}

async function notifyRotation(input: RotationNotice, deps: RotationActivityDeps): Promise<{ delivered: boolean; error?: string }> {
  const plan = await deps.runPlans.get(input.rotationId);
  if (!plan) throw new SwitchyardError(`the plan of rotation ${input.rotationId} is not stored`, { code: "RunPlanMissing" });
  const versions = input.versions.map((v) => `${v.vault}/${v.version}`).join(", ") || "none";
  const facts: NotificationFact[] = [
    { name: "Plan", value: input.plan },
    { name: "Secret", value: input.secret },
    { name: "Rotation", value: input.rotationId },
    ...(input.credential ? [{ name: "Credential now in use", value: input.credential }] : []),
    { name: "New versions", value: versions },
    ...(input.step ? [{ name: "Step", value: input.step }] : []),
    ...(input.error ? [{ name: "Error", value: redactText(input.error) }] : []),
  ];
  const text = {
    "secret-rotated": { title: `Secret ${input.secret} rotated`, message: `Switchyard ${input.plan}: ${input.secret} rotated${input.credential ? ` to ${input.credential}` : ""}; new versions ${versions}. ${input.steps.join("; ")}` },
    "secret-rotation-failed": {
      title: `Secret ${input.secret}: rotation failed`,
      message: `Switchyard ${input.plan}: the rotation of ${input.secret} failed at ${input.step}: ${redactText(input.error ?? "")}. The earlier version and credential stay in use; rotate again once the cause is fixed.`,
    },
    "secret-rotation-deferred": { title: `Secret ${input.secret}: rotation deferred`, message: `Switchyard ${input.plan}: the rotation of ${input.secret} waits for a failover or failback to end (${redactText(input.error ?? "")}).` },
  }[input.kind];
  const incident = input.kind === "secret-rotation-deferred" ? undefined : { key: rotationIncidentKey(input.plan, input.secret), action: input.kind === "secret-rotated" ? ("resolve" as const) : ("trigger" as const) };
  const result = await notifyActivity(
    {
      runId: input.rotationId,
      plan,
      id: `${input.rotationId}.${input.n}.${input.kind}`,
      at: input.at,
      event: input.kind,
      kind: input.kind,
      severity: input.severity,
      title: text.title,
      message: text.message,
      facts,
      actions: [],
      ...(incident ? { incident } : {}),
    },
    deps,
  );
  return { delivered: result.delivered, ...(result.error ? { error: result.error } : {}) };
}

export type RotationActivityHandlers = Record<RotationActivityName, (input: unknown) => Promise<ActivityResult<unknown>>>;

/** Every rotation activity, bound to its dependencies; each logs with its rotation, plan and secret. */
export function createRotationActivities(deps: RotationActivityDeps): RotationActivityHandlers {
  const keyed = (name: string, input: unknown): RotationActivityDeps => {
    const given = (input ?? {}) as Partial<RotationStepInput>;
    return { ...deps, log: withKeys(deps.log, { activity: name, ...(given.rotationId ? { runId: given.rotationId } : {}), ...(given.plan ? { plan: given.plan } : {}), ...(given.secret ? { secret: given.secret } : {}) }) };
  };
  const bind = <I>(name: RotationActivityName, fn: (input: I, deps: RotationActivityDeps) => Promise<unknown>) => wrapActivity(name, (input: I) => fn(input, keyed(name, input)), deps.log);
  return {
    [RotationActivities.create]: bind(RotationActivities.create, createStep),
    [RotationActivities.replicate]: bind(RotationActivities.replicate, replicateStep),
    [RotationActivities.apply]: bind(RotationActivities.apply, applyStep),
    [RotationActivities.verify]: bind(RotationActivities.verify, verifyStep),
    [RotationActivities.retire]: bind(RotationActivities.retire, retireStep),
    [RotationActivities.record]: bind(RotationActivities.record, recordActivity),
    [RotationActivities.notify]: bind(RotationActivities.notify, notifyRotation),
  } as RotationActivityHandlers;
}
