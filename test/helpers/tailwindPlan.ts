import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const SUB = "9d4e2c61-7a3b-4f8e-b1c2-5e6f7a8b9c0d";
const rg = (name: string) => `/subscriptions/${SUB}/resourceGroups/${name}/providers`;

/**
 * A plan the estate was not built around: westeurope primary, northeurope secondary; storage accounts
 * with the three SKUs re-protection must tell apart (GZRS, RA-GRS, RA-GZRS); one SQL failover group; a
 * site in each region; a vault whose resource group names northeurope.
 */
export const TAILWIND = {
  name: "tailwind-ledger",
  regions: {
    primary: { name: "westeurope", healthEndpoints: [{ url: "https://ledger-weu.tailwind.example/health" }] },
    secondary: { name: "northeurope", healthEndpoints: [{ url: "https://ledger-neu.tailwind.example/health" }] },
  },
  objectives: { rpoSeconds: 120, rtoMinutes: 20 },
  sql: [
    {
      failoverGroup: `${rg("tl-weu")}/Microsoft.Sql/servers/tl-ledger-sql-weu/failoverGroups/ledger`,
      partnerServer: `${rg("tl-neu")}/Microsoft.Sql/servers/tl-ledger-sql-neu`,
      databases: ["ledgerdb"],
    },
  ],
  storage: [
    { account: `${rg("tl-weu")}/Microsoft.Storage/storageAccounts/tlledgerdocs`, sku: "Standard_GZRS" },
    { account: `${rg("tl-weu")}/Microsoft.Storage/storageAccounts/tlledgerexports`, sku: "Standard_RAGRS" },
    { account: `${rg("tl-weu")}/Microsoft.Storage/storageAccounts/tlledgerarchive`, sku: "Standard_RAGZRS" },
  ],
  frontDoor: {
    standard: [
      {
        originGroup: `${rg("tl-edge")}/Microsoft.Cdn/profiles/tl-edge/originGroups/ledger`,
        origins: { westeurope: "ledger-weu", northeurope: "ledger-neu" },
      },
    ],
  },
  appService: [
    {
      site: `${rg("tl-weu")}/Microsoft.Web/sites/tl-ledger-weu`,
      region: "westeurope",
      appSettings: [{ name: "LEDGER_REGION", values: { westeurope: "westeurope", northeurope: "northeurope" } }],
    },
    {
      site: `${rg("tl-neu")}/Microsoft.Web/sites/tl-ledger-neu`,
      region: "northeurope",
      appSettings: [{ name: "LEDGER_REGION", values: { westeurope: "westeurope", northeurope: "northeurope" } }],
    },
  ],
  secrets: [
    {
      vault: `${rg("tl-northeurope-shared")}/Microsoft.KeyVault/vaults/tl-ledger-kv`,
      name: "ledger-signing-key",
      source: { kind: "generated" },
    },
  ],
};

/** The Tailwind plan written to a temporary file (for `useEstate({ planFile })`). */
export function tailwindPlanFile(): string {
  const file = join(mkdtempSync(join(tmpdir(), "tailwind-plan-")), "tailwind.plan.json");
  writeFileSync(file, JSON.stringify(TAILWIND, null, 2));
  return file;
}
