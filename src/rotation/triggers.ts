/**
 * What starts a rotation: Key Vault's SecretNearExpiry and SecretExpired events (Event Grid), the daily
 * sweep that catches missed events, and an operator's request. Each starts one rotation per plan
 * secret (a secret whose rotation runs already is reported as running, not started twice).
 */
import type { SecretProperties } from "@azure/keyvault-secrets";
import type { ClientFactory } from "../azure/clients.ts";
import type { Logger } from "../core/logger.ts";
import { decideEvent, isDue, matchPlanSecrets, parseKeyVaultEvent } from "../core/rotation/events.ts";
import type { PlanSecret, RotationTrigger } from "../core/rotation/model.ts";
import { redactText } from "../core/secrets.ts";
import type { PlanCatalog } from "../plan/catalog.ts";
import type { RotationStart, Rotations } from "./port.ts";

export interface TriggerDeps {
  readonly plans: PlanCatalog;
  readonly rotations: Pick<Rotations, "start">;
  readonly clients: ClientFactory;
  readonly clock: () => Date;
  readonly log: Logger;
}

export type EventOutcome =
  | { readonly outcome: "refused"; readonly path: string; readonly reason: string }
  | { readonly outcome: "ignored"; readonly reason: string }
  | { readonly outcome: "rotating"; readonly started: readonly { readonly plan: string; readonly secret: string; readonly start?: RotationStart; readonly error?: string }[] };

const message = (error: unknown) => redactText(error instanceof Error ? error.message : String(error));

/**
 * One Event Grid event (either schema). A malformed event is refused with the path of the bad field
 * (a retry cannot mend it: Event Grid's dead-lettering keeps it when the trigger fails, so the trigger
 * logs it and acknowledges); an event for no plan secret, or of a type that does not rotate, is
 * acknowledged and ignored with the reason.
 */
export async function handleKeyVaultEvent(raw: unknown, deps: TriggerDeps): Promise<EventOutcome> {
  const parsed = parseKeyVaultEvent(raw);
  if (!parsed.ok) {
    deps.log.error(`Key Vault event refused: ${parsed.error}`, { path: parsed.path });
    return { outcome: "refused", path: parsed.path, reason: parsed.error };
  }
  const event = parsed.event;
  const plans = await deps.plans.list();
  const decision = decideEvent(event, matchPlanSecrets(event, plans));
  if (decision.action === "ignore") {
    deps.log.info(`Key Vault event ${event.id} ignored: ${decision.reason}`, { eventType: event.type });
    return { outcome: "ignored", reason: decision.reason };
  }
  const trigger: RotationTrigger = { kind: "event", eventType: event.type, eventId: event.id };
  // An event about a version that is no longer the vault's current one (a rotation replaced it since;
  // Event Grid delivers late and retries; each vault sends its own) starts nothing.
  if (event.version !== undefined) {
    const current = await currentProperties(deps.clients, event.vaultName, event.secretName).catch(() => undefined);
    if (current !== undefined && current !== "disabled" && current.version !== undefined && current.version.toLowerCase() !== event.version.toLowerCase()) {
      const reason = `version ${event.version} of ${event.secretName} in ${event.vaultName} is no longer current (${current.version} is): it was rotated since`;
      deps.log.info(`Key Vault event ${event.id} ignored: ${reason}`, { eventType: event.type });
      return { outcome: "ignored", reason };
    }
  }
  const started: { plan: string; secret: string; start?: RotationStart; error?: string }[] = [];
  for (const target of decision.targets) {
    const plan = plans.find((p) => p.name === target.plan)!;
    try {
      const start = await deps.rotations.start(plan, target.secret, trigger);
      deps.log.info(`rotation of ${target.secret} ${start.outcome === "started" ? "started" : "already running"}: ${start.rotation.rotationId}`, { plan: plan.name, eventType: event.type, eventId: event.id });
      started.push({ ...target, start });
    } catch (error) {
      // One plan's failure stops no other's; the event is retried by Event Grid only if every start failed.
      deps.log.error(`rotation of ${target.secret} could not start: ${message(error)}`, { plan: plan.name, eventId: event.id });
      started.push({ ...target, error: message(error) });
    }
  }
  if (started.every((s) => s.error !== undefined)) throw new Error(`no rotation could start for event ${event.id}: ${started.map((s) => s.error).join("; ")}`);
  return { outcome: "rotating", started };
}

export interface SweepFinding {
  readonly plan: string;
  readonly secret: string;
  readonly due: boolean;
  readonly reason: string;
  readonly start?: RotationStart;
  readonly error?: string;
}

/**
 * The current version's properties in one vault: what a versionless read returns (Key Vault's
 * timestamps are whole seconds, so the latest created cannot be told from a listing). `disabled` when
 * the read is refused with 403 (a disabled current version); undefined when the secret is absent.
 */
async function currentProperties(clients: ClientFactory, vaultName: string, secret: string): Promise<SecretProperties | "disabled" | undefined> {
  try {
    // The value comes with the read and is dropped here.
    return (await clients.secrets(vaultName).getSecret(secret)).properties;
  } catch (error) {
    const status = (error as { statusCode?: unknown }).statusCode;
    if (status === 404) return undefined;
    if (status === 403) return "disabled";
    throw new Error(`${vaultName} could not be read${typeof status === "number" ? ` (HTTP ${status})` : ""}`);
  }
}

/** Why one plan secret is due now (the earliest expiry of its vaults, or a vault without it), or why not. */
export async function secretDue(clients: ClientFactory, secret: PlanSecret, now: Date): Promise<{ due: boolean; reason: string }> {
  let earliest: { vault: string; expires?: Date } | undefined;
  for (const vault of secret.vaults) {
    const current = await currentProperties(clients, vault.name, secret.name);
    if (!current) return { due: true, reason: `${vault.name} holds no version of it` };
    if (current === "disabled") {
      // A new random value mends a generated secret; a key or login needs a person to say which is in use.
      return secret.source.kind === "generated"
        ? { due: true, reason: `its current version in ${vault.name} cannot be read (disabled, or Switchyard may not read it)` }
        : { due: false, reason: `its current version in ${vault.name} cannot be read (disabled, or Switchyard may not read it): enable it (or grant the read) before a rotation can tell which credential is in use` };
    }
    const expires = current.expiresOn;
    if (!earliest || (expires && (!earliest.expires || expires < earliest.expires))) earliest = { vault: vault.name, ...(expires ? { expires } : {}) };
  }
  const verdict = isDue(earliest?.expires, now, secret.rotateDaysBeforeExpiry);
  return { due: verdict.due, reason: `${earliest?.vault}: ${verdict.reason}` };
}

/**
 * The daily sweep: every secret of every plan whose current version (in any of its vaults) expires
 * within the plan's `rotateDaysBeforeExpiry`, has expired, or is missing from a vault, is rotated.
 * A vault that cannot be read is reported and skipped (the next sweep tries again).
 */
export async function sweepSecrets(deps: TriggerDeps, onFinding?: (finding: SweepFinding) => void): Promise<SweepFinding[]> {
  const findings: SweepFinding[] = [];
  const now = deps.clock();
  for (const plan of await deps.plans.list()) {
    for (const secret of plan.secrets) {
      let finding: SweepFinding;
      try {
        const { due, reason } = await secretDue(deps.clients, secret, now);
        finding = { plan: plan.name, secret: secret.name, due, reason };
        if (due) finding = { ...finding, start: await deps.rotations.start(plan, secret.name, { kind: "sweep" }) };
      } catch (error) {
        finding = { plan: plan.name, secret: secret.name, due: false, reason: "not checked", error: message(error) };
        deps.log.error(`secret ${secret.name} of ${plan.name} not checked: ${finding.error}`, { plan: plan.name });
      }
      findings.push(finding);
      onFinding?.(finding);
    }
  }
  return findings;
}
