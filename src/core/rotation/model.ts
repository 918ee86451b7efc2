/**
 * Secret rotation, as the orchestration, its activities and its starters share it: names, ids, tags,
 * inputs and outputs, and the step lease that keeps a rotation and a failover apart. Pure.
 *
 * A rotation replaces one plan secret in five steps, each an activity that is idempotent by the
 * rotation's id (it runs at least once, and again after a crash):
 *   create    make the new credential (the storage key or SQL login NOT in use, or a random value) and
 *             store it as a new version in the secret's first vault, tagged with the rotation id;
 *   replicate copy that version (value, tags, expiry) to every other vault the plan names;
 *   apply     make the apps that reference the secret (App Service Key Vault references) fetch it;
 *   verify    test it: every vault's current version is this rotation's, the credential works, and every
 *             reference has resolved to it;
 *   retire    disable the secret's earlier versions in every vault.
 * No value crosses an activity's boundary: each step reads what it needs from Key Vault itself.
 */
import type { Plan } from "../plan/index.ts";

export const RotationOrchestrations = {
  rotate: "rotateSecretV1",
} as const;

export const RotationActivities = {
  create: "rotationCreate",
  replicate: "rotationReplicate",
  apply: "rotationApply",
  verify: "rotationVerify",
  retire: "rotationRetire",
  /** Journals the orchestration's own entries (deferrals, waits, the outcome). */
  record: "rotationRecord",
  /** Notifies the plan's channels of the outcome. */
  notify: "rotationNotify",
} as const;
export type RotationActivityName = (typeof RotationActivities)[keyof typeof RotationActivities];

export const ROTATION_STEPS = ["create", "replicate", "apply", "verify", "retire"] as const;
export type RotationStep = (typeof ROTATION_STEPS)[number];

/** Tags on every version a rotation writes (Key Vault allows 15 tags per secret version). */
export const RotationTags = {
  /** The rotation that wrote the version: how a step re-run finds its own work. */
  rotation: "switchyard-rotation",
  /** Which credential the value is: `key1`/`key2`, a login name, or `generated`. */
  credential: "switchyard-credential",
  /** When the credential expires (the version's `exp` too), ISO. */
  expires: "switchyard-expires",
  plan: "switchyard-plan",
} as const;

/** What started a rotation. */
export type RotationTrigger =
  | { readonly kind: "event"; readonly eventType: string; readonly eventId: string }
  | { readonly kind: "sweep" }
  | { readonly kind: "operator"; readonly by: string; readonly reason: string }
  | { readonly kind: "cli"; readonly by: string };

export interface RotationInput {
  readonly rotationId: string;
  readonly plan: string;
  readonly secret: string;
  readonly trigger: RotationTrigger;
  /** Local runs at a time scale: Azure waits (polls, deferrals) are divided by it. Default 1. */
  readonly timeScale?: number;
  /** Where an execution that continued as new (a long wait for a run) left off. */
  readonly progress?: RotationProgress;
}

/** What a rotation carries into its next execution when it continues as new. */
export interface RotationProgress {
  /** The index (in ROTATION_STEPS) of the step it was waiting to run. */
  readonly step: number;
  readonly steps: readonly StepReport[];
  readonly versions: readonly VaultVersion[];
  readonly credential?: string;
  readonly deferrals: number;
  /** When the wait for the run began (orchestration time, ms). */
  readonly deferredSince?: number;
  readonly notices: number;
  readonly execution: number;
}

/** The input of every step activity. */
export interface RotationStepInput {
  readonly rotationId: string;
  readonly plan: string;
  readonly secret: string;
  readonly step: RotationStep;
}

/** What `create` hands on: the credential it made and the version it stored (no value). */
export interface CreatedVersion {
  readonly credential: string;
  /** The credential it replaced (what the earlier version held), when known. */
  readonly replaced?: string;
  readonly vault: string;
  readonly version: string;
  readonly expiresAt: string;
  /** False when a re-run found the version already stored. */
  readonly created: boolean;
}

/** One vault's version of this rotation. */
export interface VaultVersion {
  readonly vault: string;
  readonly version: string;
  readonly written: boolean;
}

export interface StepReport {
  readonly step: RotationStep;
  /** One line for people (no value). */
  readonly summary: string;
  readonly created?: CreatedVersion;
  readonly versions?: readonly VaultVersion[];
  readonly durationMs: number;
}

export interface RotationOutput {
  readonly rotationId: string;
  readonly plan: string;
  readonly secret: string;
  readonly outcome: "rotated" | "failed";
  readonly steps: readonly StepReport[];
  /** The new version in each vault (when stored). */
  readonly versions: readonly VaultVersion[];
  readonly credential?: string;
  readonly failedStep?: RotationStep;
  readonly error?: string;
  /** How often the rotation waited for a failover run to end. */
  readonly deferrals: number;
}

/** One rotation per secret at a time: its instance id is the plan's and the secret's. */
export function rotationInstanceId(plan: string, secret: string): string {
  return `switchyard-rotate-${plan}-${secret.toLowerCase()}`;
}

export type PlanSecret = Plan["secrets"][number];

/** The plan's secret named `name` (Key Vault names are case-insensitive). */
export function secretOf(plan: Plan, name: string): PlanSecret | undefined {
  return plan.secrets.find((s) => s.name.toLowerCase() === name.toLowerCase());
}

/** The two credentials a secret alternates between (none for a generated one). */
export function credentialsOf(secret: PlanSecret): readonly [string, string] | undefined {
  switch (secret.source.kind) {
    case "storageAccountKey":
      return ["key1", "key2"];
    case "sqlLogin":
      return secret.source.logins;
    case "generated":
      return undefined;
  }
}

/**
 * The credential to create: the one of the pair NOT in use. `inUse` is every credential the vaults'
 * current versions hold; with both in use (vaults that disagree) or one that is neither, nothing is
 * safe to replace.
 */
export function nextCredential(secret: PlanSecret, inUse: readonly (string | undefined)[]): { credential: string; replaced?: string } | { refused: string } {
  const pair = credentialsOf(secret);
  if (!pair) return { credential: "generated" };
  const known = new Set(inUse.filter((c): c is string => c !== undefined).map((c) => c.toLowerCase()));
  const [a, b] = pair;
  const strange = [...known].filter((c) => c !== a.toLowerCase() && c !== b.toLowerCase());
  if (strange.length > 0) return { refused: `the vaults' current versions hold '${strange[0]}', which is neither ${a} nor ${b}` };
  if (known.has(a.toLowerCase()) && known.has(b.toLowerCase())) return { refused: `the vaults disagree: some hold ${a}, some ${b}; both are in use` };
  if (known.size === 0) return { refused: `no vault says which of ${a} and ${b} is in use` };
  return known.has(a.toLowerCase()) ? { credential: b, replaced: a } : { credential: a, replaced: b };
}

/**
 * The lease a rotation step holds on its plan while it changes Azure, in the plan's state document.
 * A failover's start reserves the plan in the same document (core/run/reservation.ts): a step is not
 * begun while a run holds the plan, and a start that finds a step under way waits for it to end.
 */
export interface RotationStepLease {
  readonly rotationId: string;
  readonly secret: string;
  readonly step: RotationStep;
  /** ISO. */
  readonly since: string;
  /** ISO: after this the lease is over whatever became of its step (a crashed activity). */
  readonly until: string;
}

/** How long a step may hold its lease: its activity's Azure requests are cut off before this. */
export const STEP_LEASE_MS = 60_000;
/** A rotation step's own time budget (its requests are aborted after it), inside the lease. */
export const STEP_BUDGET_MS = 45_000;

export function isLeaseLive(lease: RotationStepLease | undefined, now: Date): lease is RotationStepLease {
  if (!lease) return false;
  const until = Date.parse(lease.until);
  const since = Date.parse(lease.since);
  // A lease dated far ahead was written by a clock far off: it does not hold the plan for ever.
  return Number.isFinite(until) && until > now.getTime() && until - now.getTime() <= STEP_LEASE_MS * 2 && Number.isFinite(since);
}

/** The stored leases by secret, checked: a malformed one is dropped (a run is never held by it). */
export function leasesOf(raw: unknown): Record<string, RotationStepLease> | undefined {
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) return undefined;
  const kept = Object.entries(raw).flatMap(([secret, value]) => {
    const lease = leaseOf(value);
    return lease ? [[secret, lease] as const] : [];
  });
  return kept.length > 0 ? Object.fromEntries(kept) : undefined;
}

/** The leases that still hold the plan at `now`. */
export function liveLeases(leases: Record<string, RotationStepLease> | undefined, now: Date): RotationStepLease[] {
  return Object.values(leases ?? {}).filter((l) => isLeaseLive(l, now));
}

/** One stored lease, checked (anything malformed counts as none). */
export function leaseOf(raw: unknown): RotationStepLease | undefined {
  if (typeof raw !== "object" || raw === null) return undefined;
  const o = raw as Record<string, unknown>;
  const strings = ["rotationId", "secret", "step", "since", "until"].every((k) => typeof o[k] === "string");
  if (!strings || !(ROTATION_STEPS as readonly unknown[]).includes(o.step)) return undefined;
  return { rotationId: o.rotationId as string, secret: o.secret as string, step: o.step as RotationStep, since: o.since as string, until: o.until as string };
}

/** Error codes a step activity fails with that the orchestration acts on (Switchyard's own, never Azure's). */
export const RotationErrors = {
  /** A failover or failback holds the plan: wait for it to end. */
  runInProgress: "RotationDeferredByRun",
  /** The apps have not all picked up the new version yet: apply again and verify after a poll. */
  notYetInUse: "RotationNotYetInUse",
} as const;
