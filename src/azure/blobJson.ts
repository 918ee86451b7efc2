import type { ContainerClient } from "@azure/storage-blob";
import { budgetOptions, readBody } from "./budget.ts";
import { errorCodeOf, statusCodeOf } from "./restErrors.ts";

/**
 * Writes `value` as a JSON blob only if `conditions` hold (`ifMatch: etag` to replace a version,
 * `ifNoneMatch: "*"` to create), creating the container on first use. Resolves with the new ETag, or
 * undefined when the condition was not met (412 ConditionNotMet, 409 BlobAlreadyExists: another writer
 * was first). The request carries the time budget of the work in progress (budget.ts).
 */
export async function uploadJsonIf(container: ContainerClient, blobName: string, value: unknown, conditions: { ifMatch: string } | { ifNoneMatch: string }): Promise<string | undefined> {
  const blob = container.getBlockBlobClient(blobName);
  const body = Buffer.from(JSON.stringify(value), "utf8");
  for (let created = false; ; created = true) {
    try {
      const response = await blob.upload(body, body.length, { conditions, blobHTTPHeaders: { blobContentType: "application/json; charset=utf-8" }, ...budgetOptions() });
      if (!response.etag) throw new Error(`the blob store gave no ETag for ${blob.name}`);
      return response.etag;
    } catch (error) {
      const status = statusCodeOf(error);
      if (status === 412 || status === 409) return undefined;
      if (status === 404 && !created && errorCodeOf(error) === "ContainerNotFound") {
        await container.createIfNotExists(budgetOptions());
        continue;
      }
      throw error;
    }
  }
}

/**
 * A JSON document's text and version (ETag) from a blob, or undefined when there is none (404). A blob
 * larger than `maxBytes` is refused before its body is read, with the message `tooLarge` gives.
 */
export async function readBlobText(container: ContainerClient, blobName: string, maxBytes: number, tooLarge: (bytes: number) => string): Promise<{ text: string; etag?: string } | undefined> {
  const blob = container.getBlockBlobClient(blobName);
  try {
    const response = await blob.download(0, undefined, budgetOptions());
    if ((response.contentLength ?? 0) > maxBytes) throw new Error(tooLarge(response.contentLength!));
    const text = (await readBody(response.readableStreamBody)).toString("utf8");
    return { text, ...(response.etag ? { etag: response.etag } : {}) };
  } catch (error) {
    if (statusCodeOf(error) === 404) return undefined;
    throw error;
  }
}
