/**
 * Azure region names as ARM spells them (`location` values), per cloud. A plan may only name these.
 * Kept as data so that a new region is a one-line change.
 */
export const AZURE_REGIONS = {
  AzurePublicCloud: [
    "australiacentral", "australiacentral2", "australiaeast", "australiasoutheast", "austriaeast",
    "belgiumcentral", "brazilsouth", "brazilsoutheast", "canadacentral", "canadaeast", "centralindia",
    "centralus", "centraluseuap", "chilecentral", "denmarkeast", "eastasia", "eastus", "eastus2",
    "eastus2euap", "francecentral", "francesouth", "germanynorth", "germanywestcentral",
    "indonesiacentral", "israelcentral", "italynorth", "japaneast", "japanwest", "jioindiacentral",
    "jioindiawest", "koreacentral", "koreasouth", "malaysiawest", "mexicocentral", "newzealandnorth",
    "northcentralus", "northeurope", "norwayeast", "norwaywest", "polandcentral", "qatarcentral",
    "southafricanorth", "southafricawest", "southcentralus", "southeastasia", "southindia",
    "spaincentral", "swedencentral", "swedensouth", "switzerlandnorth", "switzerlandwest", "uaecentral",
    "uaenorth", "uksouth", "ukwest", "westcentralus", "westeurope", "westindia", "westus", "westus2",
    "westus3",
  ],
  AzureUSGovernment: ["usgovarizona", "usgovtexas", "usgovvirginia", "usdodcentral", "usdodeast"],
  AzureChinaCloud: ["chinaeast", "chinaeast2", "chinaeast3", "chinanorth", "chinanorth2", "chinanorth3"],
} as const;

const ALL = new Set<string>(Object.values(AZURE_REGIONS).flat());

export function isAzureRegion(name: string): boolean {
  return ALL.has(name);
}

/** The closest known region names to `name`, for "did you mean" hints. */
export function suggestRegion(name: string): string | undefined {
  const wanted = name.toLowerCase().replace(/[\s_-]/g, "");
  if (ALL.has(wanted)) return wanted;
  let best: { region: string; distance: number } | undefined;
  for (const region of ALL) {
    const distance = editDistance(wanted, region);
    if (!best || distance < best.distance) best = { region, distance };
  }
  return best && best.distance <= 2 ? best.region : undefined;
}

function editDistance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let previous = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const current = row[j]!;
      row[j] = Math.min(row[j]! + 1, row[j - 1]! + 1, previous + (a[i - 1] === b[j - 1] ? 0 : 1));
      previous = current;
    }
  }
  return row[b.length]!;
}
