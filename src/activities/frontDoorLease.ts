import { createHash } from "node:crypto";
import { setTimeout as delay } from "node:timers/promises";
import type { ContainerClient } from "@azure/storage-blob";
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
 * released or expires.
 */
export function blobFrontDoorLease(container: ContainerClient, options: BlobFrontDoorLeaseOptions = {}): FrontDoorLease {
  const leaseSeconds = options.leaseSeconds ?? 60;
  const waitMs = options.waitMs ?? 30_000;
  const retryMs = options.retryMs ?? 250;
  let ready: Promise<unknown> | undefined;
  const containerReady = () =>
    (ready ??= container.createIfNotExists().catch((error: unknown) => {
      ready = undefined;
      throw normaliseAzureError(error, "Container_Create", container.containerName);
    }));

  return {
    async acquire(frontDoorId: string) {
      await containerReady();
      const id = frontDoorId.replace(/\/+$/, "").toLowerCase();
      const name = `frontdoor-leases/${createHash("sha256").update(id).digest("hex")}`;
      const blob = container.getBlockBlobClient(name);
      try {
        await blob.upload(id, Buffer.byteLength(id), { conditions: { ifNoneMatch: "*" } });
      } catch (error) {
        // It exists already (412), or exists and is leased (409): either way there is a blob to lease.
        const status = (error as { statusCode?: number }).statusCode;
        if (status !== 409 && status !== 412) throw normaliseAzureError(error, "Blob_Upload", name);
      }
      const lease = blob.getBlobLeaseClient();
      const deadline = Date.now() + waitMs;
      for (;;) {
        try {
          await lease.acquireLease(leaseSeconds);
          return {
            release: async () => {
              try {
                await lease.releaseLease();
              } catch (error) {
                throw normaliseAzureError(error, "Blob_ReleaseLease", name);
              }
            },
          };
        } catch (error) {
          if ((error as { statusCode?: number }).statusCode !== 409) throw normaliseAzureError(error, "Blob_AcquireLease", name);
          if (Date.now() >= deadline) {
            throw new SwitchyardError(`another writer holds the lease of Front Door ${frontDoorId}; try again shortly`, {
              code: "FrontDoorLeaseBusy",
              retryable: true,
              retryAfterSeconds: Math.min(leaseSeconds, 15),
            });
          }
          await delay(retryMs);
        }
      }
    },
  };
}
