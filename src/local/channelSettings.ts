/**
 * App settings for a plan's notification channels on the local estate: a credential made up for each
 * setting the plan names (a Slack webhook URL, a Teams Workflows URL with its `sig`, a PagerDuty routing
 * key, a webhook URL and its signing secret, an ACS endpoint), fresh for every local app. Every channel
 * request goes to the estate, which answers as the real service would; nothing leaves the machine.
 */
import { createHash, randomBytes } from "node:crypto";
import type { Plan } from "../core/plan/index.ts";

export interface LocalChannels {
  /** Setting name → value, as the Functions app reads them from its environment. */
  readonly settings: Readonly<Record<string, string>>;
  /** Webhook hosts and the signing secret the estate verifies their deliveries with. */
  readonly webhookSecrets: readonly { readonly host: string; readonly secret: string }[];
  /** How the estate's records name each channel: by host, and for shared hosts by the credential's fingerprint. */
  readonly identify: (host: string, credential?: string) => string | undefined;
}

const ALNUM = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
const lowerAlnum = "abcdefghijklmnopqrstuvwxyz0123456789";

function token(length: number, alphabet: string, random: (n: number) => Buffer): string {
  return [...random(length)].map((b) => alphabet[b % alphabet.length]).join("");
}

/** The first 12 hex digits of a credential's SHA-256: how the estate's records tell credentials apart. */
export function fingerprint(credential: string): string {
  return createHash("sha256").update(credential).digest("hex").slice(0, 12);
}

/** `given` values are used as they are (tests seed known credentials); the rest are made up. */
export function localChannelSettings(plan: Plan, given: Readonly<Record<string, string>> = {}, random: (n: number) => Buffer = randomBytes): LocalChannels {
  const settings: Record<string, string> = { ...given };
  const webhookSecrets: { host: string; secret: string }[] = [];
  const byHost = new Map<string, string>();
  const byCredential = new Map<string, string>();
  const slug = plan.name.toLowerCase();
  const set = (name: string, make: () => string): string => (settings[name] ??= make());
  for (const channel of plan.notifications) {
    switch (channel.kind) {
      case "teams": {
        const sig = random(32).toString("base64url");
        const url = set(channel.urlSetting, () => `https://prod-${String(random(1)[0]! % 90).padStart(2, "0")}.westus.logic.azure.com:443/workflows/${random(16).toString("hex")}/triggers/manual/paths/invoke?api-version=2016-06-01&sp=%2Ftriggers%2Fmanual%2Frun&sv=1.0&sig=${sig}`);
        byHost.set(new URL(url).host.toLowerCase(), channel.name);
        byCredential.set(fingerprint(new URL(url).searchParams.get("sig") ?? ""), channel.name);
        break;
      }
      case "slack": {
        const url = set(channel.urlSetting, () => `https://hooks.slack.com/services/T${token(10, ALNUM, random)}/B${token(10, ALNUM, random)}/${token(24, ALNUM + lowerAlnum, random)}`);
        byCredential.set(fingerprint(new URL(url).pathname.split("/").at(-1)!), channel.name);
        break;
      }
      case "pagerduty": {
        const key = set(channel.routingKeySetting, () => random(16).toString("hex"));
        byCredential.set(fingerprint(key), channel.name);
        break;
      }
      case "webhook": {
        const url = set(channel.urlSetting, () => `https://hooks.${slug}.example/switchyard/${token(8, lowerAlnum, random)}`);
        const secret = set(channel.secretSetting, () => `whsec_${random(32).toString("base64")}`);
        const host = new URL(url).host.toLowerCase();
        byHost.set(host, channel.name);
        webhookSecrets.push({ host, secret });
        break;
      }
      case "email": {
        const endpoint = set(channel.endpointSetting, () => `https://${slug}-comms.unitedstates.communication.azure.com`);
        byHost.set(new URL(endpoint).host.toLowerCase(), channel.name);
        break;
      }
    }
  }
  return {
    settings,
    webhookSecrets,
    identify: (host, credential) => (credential !== undefined ? byCredential.get(credential) : undefined) ?? byHost.get(host.toLowerCase()),
  };
}
