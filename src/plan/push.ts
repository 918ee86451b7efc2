import { createHash } from "node:crypto";
import { readFile } from "node:fs/promises";
import { extname } from "node:path";
import type { ContainerClient } from "@azure/storage-blob";
import { errorCodeOf, statusCodeOf } from "../azure/restErrors.ts";
import { parsePlanText, planWarnings, PlanValidationError, formatIssue, type Plan } from "../core/plan/index.ts";
import { sharedClassicFrontDoors } from "./catalog.ts";

/**
 * `switchyard plan push`: a plan file checked as the Function App will check it, then written to the
 * plans container as `{plan name}.yaml` (a JSON file too: JSON is YAML), the file's own text (comments kept).
 * The app's catalog reads every `*.yaml`/`*.yml`/`*.json` blob of the container and ignores (and logs)
 * one that does not validate, so an invalid plan is refused here before anything is sent; so is a plan
 * whose name another blob of the container already holds (two blobs of one plan name would leave the app
 * using whichever it lists first).
 */

/** Blobs of the container read to look for another blob of the same plan name (plans are small). */
const MAX_BLOBS_READ = 500;
/** A plan file larger than this is not a plan (the largest example is a few KB). */
export const MAX_PLAN_BYTES = 1024 * 1024;

export type PushOutcome = "created" | "updated" | "unchanged";

export interface PushResult {
  readonly plan: string;
  readonly blob: string;
  readonly url: string;
  readonly outcome: PushOutcome;
  readonly etag: string;
  /** The plan's own warnings, and plans of the container it shares a classic Front Door with. */
  readonly warnings: readonly string[];
  /** Blobs of the container that do not hold a valid plan (the app ignores them). */
  readonly invalidBlobs: readonly string[];
}

/** Pushing was refused or failed: nothing was written (the message says why, without credentials). */
export class PlanPushError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "PlanPushError";
  }
}

/** The plan in `file`, validated, and the text to upload. Throws PlanValidationError (with every issue). */
export async function readPlanForPush(file: string): Promise<{ plan: Plan; text: string; blob: string; contentType: string }> {
  let bytes: Buffer;
  try {
    bytes = await readFile(file);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new PlanValidationError(file, [{ path: "", message: code === "ENOENT" ? "file not found" : code === "EISDIR" ? "is a folder, not a plan file" : `cannot read: ${code ?? String(error)}` }]);
  }
  if (bytes.length > MAX_PLAN_BYTES) throw new PlanValidationError(file, [{ path: "", message: `is ${bytes.length} bytes: a plan file is at most ${MAX_PLAN_BYTES} bytes` }]);
  const text = bytes.toString("utf8");
  const plan = parsePlanText(text, file);
  // Always `{name}.yaml` (JSON is YAML), whatever the file's kind: one blob name per plan, so the
  // conditional write serializes every push of a plan, a JSON file's included.
  const json = extname(file).toLowerCase() === ".json";
  return { plan, text, blob: `${plan.name}.yaml`, contentType: json ? "application/json" : "application/yaml" };
}

/** An account URL or SDK error with any query string (a SAS) removed. */
export function withoutQuery(text: string): string {
  return text.replace(/(https?:\/\/[^\s?"']+)\?[^\s"']*/g, "$1");
}

function failure(what: string, error: unknown, where: string): PlanPushError {
  const status = statusCodeOf(error);
  const code = errorCodeOf(error);
  if (status === 403) {
    const hint = code === "AuthorizationPermissionMismatch" || code === "AuthorizationFailure"
      ? ": the signed-in identity needs a data role on the container (Storage Blob Data Contributor)"
      : code === "KeyBasedAuthenticationNotPermitted" ? ": the account does not allow shared keys; use --account-url with a Microsoft Entra sign-in" : "";
    return new PlanPushError(`${what} ${where}: refused (403${code ? ` ${code}` : ""})${hint}`);
  }
  const detail = status !== undefined ? `${status}${code ? ` ${code}` : ""}` : withoutQuery(error instanceof Error ? error.message : String(error)).slice(0, 300);
  return new PlanPushError(`${what} ${where}: ${detail}`);
}

export interface PushOptions {
  /** Create the container when it does not exist (Azurite; in Azure the infrastructure creates it). */
  readonly createContainer?: boolean;
}

/**
 * Uploads a validated plan. The write is conditional: a new blob only if none exists (If-None-Match: *),
 * a replacement only of the version read (If-Match), so two pushes at once cannot silently overwrite
 * each other; identical content is not written again.
 */
export async function pushPlan(container: ContainerClient, input: { plan: Plan; text: string; blob: string; contentType: string }, options: PushOptions = {}): Promise<PushResult> {
  const where = `container ${container.containerName} at ${withoutQuery(container.url).replace(/\/[^/]*$/, "")}`;
  let exists: boolean;
  try {
    exists = await container.exists();
  } catch (error) {
    throw failure("could not reach the", error, where);
  }
  if (!exists) {
    if (!options.createContainer) throw new PlanPushError(`the ${where} does not exist: provision it (azd provision creates it) or pass --create-container`);
    try {
      await container.createIfNotExists();
    } catch (error) {
      throw failure("could not create the", error, where);
    }
  }

  // Other blobs of the container: one holding the same plan name refuses the push; valid plans are read
  // for the warnings that span plans (a shared classic Front Door).
  const others: Plan[] = [];
  const invalidBlobs: string[] = [];
  let currentListed = false;
  let read = 0;
  try {
    for await (const item of container.listBlobsFlat()) {
      if (item.name === input.blob) {
        currentListed = true;
        continue;
      }
      if (!/\.(ya?ml|json)$/i.test(item.name)) continue;
      if (++read > MAX_BLOBS_READ) break;
      if ((item.properties.contentLength ?? 0) > MAX_PLAN_BYTES) {
        invalidBlobs.push(item.name);
        continue;
      }
      const text = (await container.getBlobClient(item.name).downloadToBuffer()).toString("utf8");
      try {
        const other = parsePlanText(text, item.name);
        if (other.name === input.plan.name) {
          throw new PlanPushError(`the ${where} already holds plan ${input.plan.name} in blob ${item.name}: the app would use one of the two blobs, not both; delete ${item.name} first`);
        }
        others.push(other);
      } catch (error) {
        if (error instanceof PlanValidationError) invalidBlobs.push(item.name);
        else throw error;
      }
    }
  } catch (error) {
    if (error instanceof PlanPushError) throw error;
    throw failure("could not list the plans of the", error, where);
  }

  const warnings = planWarnings(input.plan).map((w) => formatIssue(w));
  for (const shared of sharedClassicFrontDoors([...others, input.plan])) {
    if (shared.plans.includes(input.plan.name)) warnings.push(`plans ${shared.plans.join(", ")} share the classic Front Door ${shared.frontDoor}: their runs switch it one after the other`);
  }

  const body = Buffer.from(input.text, "utf8");
  const blobClient = container.getBlockBlobClient(input.blob);
  const url = withoutQuery(blobClient.url);
  const result = { plan: input.plan.name, blob: input.blob, url, warnings, invalidBlobs };
  // The blob this plan goes to, as it is now: the same text is not written again, and a blob of that
  // name holding another plan is not replaced by this one.
  let current: { etag: string } | undefined;
  if (currentListed) {
    try {
      const download = await blobClient.download();
      const text = await streamText(download.readableStreamBody);
      if (text === input.text) return { ...result, outcome: "unchanged", etag: download.etag ?? "" };
      try {
        const held = parsePlanText(text, input.blob);
        if (held.name !== input.plan.name) throw new PlanPushError(`blob ${input.blob} in the ${where} holds plan ${held.name}, not ${input.plan.name}: rename that blob to ${held.name}${extname(input.blob)} first`);
      } catch (error) {
        if (!(error instanceof PlanValidationError)) throw error;
      }
      current = { etag: download.etag ?? "" };
    } catch (error) {
      if (error instanceof PlanPushError) throw error;
      if (statusCodeOf(error) !== 404) throw failure(`could not read blob ${input.blob} in the`, error, where);
    }
  }
  try {
    const uploaded = await blobClient.uploadData(body, {
      blobHTTPHeaders: { blobContentType: input.contentType, blobContentMD5: createHash("md5").update(body).digest() },
      conditions: current ? { ifMatch: current.etag } : { ifNoneMatch: "*" },
    });
    return { ...result, outcome: current ? "updated" : "created", etag: uploaded.etag ?? "" };
  } catch (error) {
    const status = statusCodeOf(error);
    if (status === 412 || status === 409) throw new PlanPushError(`blob ${input.blob} in the ${where} changed while the plan was being pushed: push again`);
    throw failure(`could not write blob ${input.blob} in the`, error, where);
  }
}

async function streamText(stream: NodeJS.ReadableStream | undefined): Promise<string> {
  if (!stream) return "";
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of stream) {
    const buffer = typeof chunk === "string" ? Buffer.from(chunk) : (chunk as Buffer);
    size += buffer.length;
    if (size > MAX_PLAN_BYTES) return "";
    chunks.push(buffer);
  }
  return Buffer.concat(chunks).toString("utf8");
}
