import { InvalidArgumentError } from "commander";
import type { ContainerClient } from "@azure/storage-blob";
import { containerName, SETTINGS } from "../config/settings.ts";

/** Where `switchyard plan push` writes: an account URL (Microsoft Entra sign-in) or a connection string. */
export interface PushTarget {
  readonly accountUrl?: string;
  readonly connectionString?: string;
  readonly container?: string;
}

const LOOPBACK = new Set(["127.0.0.1", "localhost", "[::1]"]);

/**
 * The blob endpoint in `text`, checked: https (http only on loopback, for Azurite), no user or password,
 * no query string (a SAS belongs in no command line), and no path but the account's on loopback
 * (Azurite's path-style `http://127.0.0.1:10000/devstoreaccount1`).
 */
export function accountUrl(text: string): string {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new InvalidArgumentError("--account-url must be a URL such as https://contososwitchyard.blob.core.windows.net");
  }
  const loopback = LOOPBACK.has(url.hostname);
  if (url.protocol !== "https:" && !(url.protocol === "http:" && loopback)) throw new InvalidArgumentError("--account-url must be https (http only for an emulator on this machine)");
  if (url.username || url.password) throw new InvalidArgumentError("--account-url must not carry a user or password");
  if (url.search || url.hash) throw new InvalidArgumentError("--account-url must have no query string or fragment (no SAS: sign in instead)");
  if (!loopback && url.pathname !== "/" && url.pathname !== "") throw new InvalidArgumentError("--account-url is the account's blob endpoint, with no path (the container is --container)");
  return url.href.replace(/\/$/, "");
}

/** The plans container named by the options and the environment (the same settings the app reads). */
export async function containerFor(options: PushTarget, env: Readonly<Record<string, string | undefined>> = process.env): Promise<ContainerClient> {
  const name = options.container ?? (env[SETTINGS.plansContainer] || "switchyard-plans");
  const parsed = containerName.safeParse(name);
  if (!parsed.success) throw new InvalidArgumentError(`--container ${JSON.stringify(name)}: must be ${parsed.error.issues[0]?.message}`);
  if (options.accountUrl !== undefined && options.connectionString !== undefined) throw new InvalidArgumentError("give --account-url or --connection-string, not both");
  const { BlobServiceClient } = await import("@azure/storage-blob");
  if (options.accountUrl !== undefined) {
    const url = accountUrl(options.accountUrl);
    const { DefaultAzureCredential } = await import("@azure/identity");
    return new BlobServiceClient(url, new DefaultAzureCredential()).getContainerClient(parsed.data);
  }
  const connectionString = options.connectionString ?? env[SETTINGS.storageConnectionString];
  if (connectionString === undefined || connectionString.trim() === "") {
    throw new InvalidArgumentError(`say where the plans go: --account-url https://<account>.blob.core.windows.net, or --connection-string (or ${SETTINGS.storageConnectionString}) for Azurite`);
  }
  try {
    return BlobServiceClient.fromConnectionString(connectionString.trim()).getContainerClient(parsed.data);
  } catch {
    // The SDK's message may quote the string, and with it an account key: say only what is wrong.
    throw new InvalidArgumentError("the connection string is not a storage connection string (AccountName=...;AccountKey=...;BlobEndpoint=... or UseDevelopmentStorage=true)");
  }
}
