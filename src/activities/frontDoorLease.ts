import { createHash } from "node:crypto";
import { setTimeout as delay } from "node:timers/promises";
import type { ContainerClient } from "@azure/storage-blob";
import { budgetOptions, currentAbortSignal } from "../azure/budget.ts";
import { statusCodeOf } from "../azure/restErrors.ts";
import { SwitchyardError } from "../core/errors.ts";
import { normaliseAzureError } from "./azureErrors.ts";
import type { FrontDoorLease } from "./deps.ts";

export interface BlobFrontDoorLeaseOptions {
  /**
   * How long a lease lasts unless released (Blob storage allows 15 to 60 seconds, or infinite). A
   * finite lease frees itself when its holder dies: 60 s leaves a GET and a PUT ample time.
   */
  readonly leaseSeconds?: number;
  /** How long `acquire` keeps trying while another writer holds the lease before it gives up (retryably). */
  readonly waitMs?: number;
  /** Pause between attempts. */
  readonly retryMs?: number;
}

/**
 * Leases of classic Front Doors as blob leases in Switchyard's own storage: one blob per Front Door
 * (`frontdoor-leases/<sha-256 of its lower-case id>`, made on first use), leased with BlobLeaseClient.
 * Blob storage grants a lease to one holder at a time and answers 409 to anyone else until it is
 * released or expires. Every request, and the wait between attempts, ends with the time budget of the
 * activity that makes it.
 */
export function blobFrontDoorLease(container: ContainerClient, options: BlobFrontDoorLeaseOptions = {}): FrontDoorLease {
  const leaseSeconds = options.leaseSeconds ?? 60;
  const waitMs = options.waitMs ?? 30_000;
  const retryMs = options.retryMs ?? 250;
  // Callers do not share a pending create: each asks under its own budget until one has succeeded.
  let created = false;
  const containerReady = async () => {
    if (created) return;
    try {
      await container.createIfNotExists(budgetOptions());
    } catch (error) {
      throw normaliseAzureError(error, "Container_Create", container.containerName);
    }
    created = true;
  };

  return {
    async acquire(frontDoorId: string) {
      await containerReady();
      const id = frontDoorId.replace(/\/+$/, "").toLowerCase();
      const name = `frontdoor-leases/${createHash("sha256").update(id).digest("hex")}`;
      const blob = container.getBlockBlobClient(name);
      try {
        await blob.upload(id, Buffer.byteLength(id), { conditions: { ifNoneMatch: "*" }, ...budgetOptions() });
      } catch (error) {
        // It exists already (412), or exists and is leased (409): either way there is a blob to lease.
        const status = statusCodeOf(error);
        if (status !== 409 && status !== 412) throw normaliseAzureError(error, "Blob_Upload", name);
      }
      const lease = blob.getBlobLeaseClient();
      const deadline = Date.now() + waitMs;
      for (;;) {
        try {
          await lease.acquireLease(leaseSeconds, budgetOptions());
          return {
            release: async () => {
              try {
                await lease.releaseLease(budgetOptions());
              } catch (error) {
                throw normaliseAzureError(error, "Blob_ReleaseLease", name);
              }
            },
          };
        } catch (error) {
          if (statusCodeOf(error) !== 409) throw normaliseAzureError(error, "Blob_AcquireLease", name);
          if (Date.now() >= deadline) {
            throw new SwitchyardError(`another writer holds the lease of Front Door ${frontDoorId}; try again shortly`, {
              code: "FrontDoorLeaseBusy",
              retryable: true,
              retryAfterSeconds: Math.min(leaseSeconds, 15),
            });
          }
          await waitBeforeRetry(retryMs);
        }
      }
    },
  };
}

/** The pause before another attempt at a busy lease, cut short (with an AbortError) when the budget runs out. */
function waitBeforeRetry(ms: number): Promise<void> {
  const signal = currentAbortSignal();
  return delay(ms, undefined, signal ? { signal } : {});
}
