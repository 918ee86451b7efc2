/**
 * Azure's built-in role definitions the estate knows (Azure RBAC), and how a role's permissions grant
 * an action, as Azure evaluates them. Each definition is copied field for field (GUID, name, Actions,
 * NotActions, DataActions, NotDataActions) from Microsoft's "Azure built-in roles" reference
 * (learn.microsoft.com/azure/role-based-access-control/built-in-roles, generated from Azure's role
 * definitions; sources: MicrosoftDocs/azure-docs `articles/role-based-access-control/built-in-roles/*.md`),
 * as published in 2024–2026. Microsoft adds actions to built-in roles over time: a definition here is
 * the one published then, not necessarily today's.
 *
 * Matching follows "Understand Azure role definitions" (learn.microsoft.com/azure/role-based-access-control/role-definitions):
 * permission strings are case-insensitive; `*` in a string matches any run of characters (slashes
 * included: Reader's `*` then `/read` covers `Microsoft.Sql/servers/failoverGroups/read`), and a string may hold more
 * than one; a permission block grants what its Actions match less what its NotActions match (NotActions
 * is a subtraction, not a deny: another role, or another block, may grant the same action); control
 * plane Actions and data plane DataActions are separate (`*` in Actions grants no data action).
 *
 * No import: this file stands alone, so that any part of the project may read the table.
 */

/** One permission block of a role definition (`permissions[]` in Azure's JSON). */
export interface RolePermission {
  readonly actions: readonly string[];
  readonly notActions: readonly string[];
  readonly dataActions: readonly string[];
  readonly notDataActions: readonly string[];
}

export interface BuiltInRole {
  /** The role definition's name: a GUID, the same in every Azure cloud and tenant. */
  readonly id: string;
  /** Its display name (`roleName`), e.g. `SQL Server Contributor`. */
  readonly roleName: string;
  /** `/providers/Microsoft.Authorization/roleDefinitions/{id}`. */
  readonly roleDefinitionId: string;
  readonly permissions: readonly RolePermission[];
}

/** Whether an action is a control plane (Actions) or data plane (DataActions) operation. */
export type ActionKind = "action" | "dataAction";

const builtIn = (id: string, roleName: string, permission: RolePermission): BuiltInRole => ({
  id,
  roleName,
  roleDefinitionId: `/providers/Microsoft.Authorization/roleDefinitions/${id}`,
  permissions: [permission],
});

/** The built-in roles Switchyard's operations need or that readiness checks name, each with its source. */
export const BUILT_IN_ROLES: readonly BuiltInRole[] = [
  // https://learn.microsoft.com/azure/role-based-access-control/built-in-roles/privileged#owner
  builtIn("8e3af657-a8ff-443c-a75c-2fe8c4bcb635", "Owner", {
    actions: ["*"],
    notActions: [],
    dataActions: [],
    notDataActions: [],
  }),
  // https://learn.microsoft.com/azure/role-based-access-control/built-in-roles/privileged#contributor
  builtIn("b24988ac-6180-42a0-ab88-20f7382dd24c", "Contributor", {
    actions: ["*"],
    notActions: [
      "Microsoft.Authorization/*/Delete",
      "Microsoft.Authorization/*/Write",
      "Microsoft.Authorization/elevateAccess/Action",
      "Microsoft.Blueprint/blueprintAssignments/write",
      "Microsoft.Blueprint/blueprintAssignments/delete",
      "Microsoft.Compute/galleries/share/action",
      "Microsoft.Purview/consents/write",
      "Microsoft.Purview/consents/delete",
      "Microsoft.Resources/deploymentStacks/manageDenySetting/action",
      "Microsoft.Subscription/cancel/action",
      "Microsoft.Subscription/enable/action",
    ],
    dataActions: [],
    notDataActions: [],
  }),
  // https://learn.microsoft.com/azure/role-based-access-control/built-in-roles/general#reader
  builtIn("acdd72a7-3385-48ef-bd42-f606fba81ae7", "Reader", {
    actions: ["*/read"],
    notActions: [],
    dataActions: [],
    notDataActions: [],
  }),
  // https://learn.microsoft.com/azure/role-based-access-control/built-in-roles/databases#sql-server-contributor
  builtIn("6d8ee4ec-f05a-4a1d-8b00-a9b17e38b437", "SQL Server Contributor", {
    actions: [
      "Microsoft.Authorization/*/read",
      "Microsoft.Insights/alertRules/*",
      "Microsoft.ResourceHealth/availabilityStatuses/read",
      "Microsoft.Resources/deployments/*",
      "Microsoft.Resources/subscriptions/resourceGroups/read",
      "Microsoft.Sql/locations/*/read",
      "Microsoft.Sql/servers/*",
      "Microsoft.Support/*",
      "Microsoft.Insights/metrics/read",
      "Microsoft.Insights/metricDefinitions/read",
    ],
    notActions: [
      "Microsoft.Sql/managedInstances/databases/currentSensitivityLabels/*",
      "Microsoft.Sql/managedInstances/databases/recommendedSensitivityLabels/*",
      "Microsoft.Sql/managedInstances/databases/schemas/tables/columns/sensitivityLabels/*",
      "Microsoft.Sql/managedInstances/databases/securityAlertPolicies/*",
      "Microsoft.Sql/managedInstances/databases/sensitivityLabels/*",
      "Microsoft.Sql/managedInstances/databases/vulnerabilityAssessments/*",
      "Microsoft.Sql/managedInstances/securityAlertPolicies/*",
      "Microsoft.Sql/managedInstances/vulnerabilityAssessments/*",
      "Microsoft.Sql/servers/auditingSettings/*",
      "Microsoft.Sql/servers/databases/auditingSettings/*",
      "Microsoft.Sql/servers/databases/auditRecords/read",
      "Microsoft.Sql/servers/databases/currentSensitivityLabels/*",
      "Microsoft.Sql/servers/databases/dataMaskingPolicies/*",
      "Microsoft.Sql/servers/databases/extendedAuditingSettings/*",
      "Microsoft.Sql/servers/databases/recommendedSensitivityLabels/*",
      "Microsoft.Sql/servers/databases/schemas/tables/columns/sensitivityLabels/*",
      "Microsoft.Sql/servers/databases/securityAlertPolicies/*",
      "Microsoft.Sql/servers/databases/securityMetrics/*",
      "Microsoft.Sql/servers/databases/sensitivityLabels/*",
      "Microsoft.Sql/servers/databases/vulnerabilityAssessments/*",
      "Microsoft.Sql/servers/databases/vulnerabilityAssessmentScans/*",
      "Microsoft.Sql/servers/databases/vulnerabilityAssessmentSettings/*",
      "Microsoft.Sql/servers/devOpsAuditingSettings/*",
      "Microsoft.Sql/servers/extendedAuditingSettings/*",
      "Microsoft.Sql/servers/securityAlertPolicies/*",
      "Microsoft.Sql/servers/vulnerabilityAssessments/*",
      "Microsoft.Sql/servers/azureADOnlyAuthentications/delete",
      "Microsoft.Sql/servers/azureADOnlyAuthentications/write",
      "Microsoft.Sql/servers/externalPolicyBasedAuthorizations/delete",
      "Microsoft.Sql/servers/externalPolicyBasedAuthorizations/write",
    ],
    dataActions: [],
    notDataActions: [],
  }),
  // https://learn.microsoft.com/azure/role-based-access-control/built-in-roles/databases#sql-db-contributor
  builtIn("9b7fa17d-e63e-47b0-bb0a-15c516ac86ec", "SQL DB Contributor", {
    actions: [
      "Microsoft.Authorization/*/read",
      "Microsoft.Insights/alertRules/*",
      "Microsoft.ResourceHealth/availabilityStatuses/read",
      "Microsoft.Resources/deployments/*",
      "Microsoft.Resources/subscriptions/resourceGroups/read",
      "Microsoft.Sql/locations/*/read",
      "Microsoft.Sql/servers/databases/*",
      "Microsoft.Sql/servers/read",
      "Microsoft.Support/*",
      "Microsoft.Insights/metrics/read",
      "Microsoft.Insights/metricDefinitions/read",
    ],
    notActions: [
      "Microsoft.Sql/servers/databases/ledgerDigestUploads/write",
      "Microsoft.Sql/servers/databases/ledgerDigestUploads/disable/action",
      "Microsoft.Sql/managedInstances/databases/currentSensitivityLabels/*",
      "Microsoft.Sql/managedInstances/databases/recommendedSensitivityLabels/*",
      "Microsoft.Sql/managedInstances/databases/schemas/tables/columns/sensitivityLabels/*",
      "Microsoft.Sql/managedInstances/databases/securityAlertPolicies/*",
      "Microsoft.Sql/managedInstances/databases/sensitivityLabels/*",
      "Microsoft.Sql/managedInstances/databases/vulnerabilityAssessments/*",
      "Microsoft.Sql/managedInstances/securityAlertPolicies/*",
      "Microsoft.Sql/managedInstances/vulnerabilityAssessments/*",
      "Microsoft.Sql/servers/databases/auditingSettings/*",
      "Microsoft.Sql/servers/databases/auditRecords/read",
      "Microsoft.Sql/servers/databases/currentSensitivityLabels/*",
      "Microsoft.Sql/servers/databases/dataMaskingPolicies/*",
      "Microsoft.Sql/servers/databases/extendedAuditingSettings/*",
      "Microsoft.Sql/servers/databases/recommendedSensitivityLabels/*",
      "Microsoft.Sql/servers/databases/schemas/tables/columns/sensitivityLabels/*",
      "Microsoft.Sql/servers/databases/securityAlertPolicies/*",
      "Microsoft.Sql/servers/databases/securityMetrics/*",
      "Microsoft.Sql/servers/databases/sensitivityLabels/*",
      "Microsoft.Sql/servers/databases/vulnerabilityAssessments/*",
      "Microsoft.Sql/servers/databases/vulnerabilityAssessmentScans/*",
      "Microsoft.Sql/servers/databases/vulnerabilityAssessmentSettings/*",
      "Microsoft.Sql/servers/vulnerabilityAssessments/*",
    ],
    dataActions: [],
    notDataActions: [],
  }),
  // https://learn.microsoft.com/azure/role-based-access-control/built-in-roles/storage#storage-account-contributor
  builtIn("17d1049b-9a84-46fb-8f53-869881c3d3ab", "Storage Account Contributor", {
    actions: [
      "Microsoft.Authorization/*/read",
      "Microsoft.Insights/alertRules/*",
      "Microsoft.Insights/diagnosticSettings/*",
      "Microsoft.Network/virtualNetworks/subnets/joinViaServiceEndpoint/action",
      "Microsoft.ResourceHealth/availabilityStatuses/read",
      "Microsoft.Resources/deployments/*",
      "Microsoft.Resources/subscriptions/resourceGroups/read",
      "Microsoft.Storage/storageAccounts/*",
      "Microsoft.Support/*",
    ],
    notActions: [],
    dataActions: [],
    notDataActions: [],
  }),
  // https://learn.microsoft.com/azure/role-based-access-control/built-in-roles/storage#storage-blob-data-contributor
  builtIn("ba92f5b4-2d11-453d-a403-e96b0029c9fe", "Storage Blob Data Contributor", {
    actions: [
      "Microsoft.Storage/storageAccounts/blobServices/containers/delete",
      "Microsoft.Storage/storageAccounts/blobServices/containers/read",
      "Microsoft.Storage/storageAccounts/blobServices/containers/write",
      "Microsoft.Storage/storageAccounts/blobServices/generateUserDelegationKey/action",
    ],
    notActions: [],
    dataActions: [
      "Microsoft.Storage/storageAccounts/blobServices/containers/blobs/delete",
      "Microsoft.Storage/storageAccounts/blobServices/containers/blobs/read",
      "Microsoft.Storage/storageAccounts/blobServices/containers/blobs/write",
      "Microsoft.Storage/storageAccounts/blobServices/containers/blobs/move/action",
      "Microsoft.Storage/storageAccounts/blobServices/containers/blobs/add/action",
    ],
    notDataActions: [],
  }),
  // https://learn.microsoft.com/azure/role-based-access-control/built-in-roles/networking#cdn-profile-contributor
  builtIn("ec156ff8-a8d1-4d15-830c-5b80698ca432", "CDN Profile Contributor", {
    actions: [
      "Microsoft.Authorization/*/read",
      "Microsoft.Cdn/edgenodes/read",
      "Microsoft.Cdn/operationresults/*",
      "Microsoft.Cdn/profiles/*",
      "Microsoft.Insights/alertRules/*",
      "Microsoft.Resources/deployments/*",
      "Microsoft.Resources/subscriptions/resourceGroups/read",
      "Microsoft.Support/*",
    ],
    notActions: [],
    dataActions: [],
    notDataActions: [],
  }),
  // https://learn.microsoft.com/azure/role-based-access-control/built-in-roles/networking#cdn-endpoint-contributor
  builtIn("426e0c7f-0c7e-4658-b36f-ff54d6c29b45", "CDN Endpoint Contributor", {
    actions: [
      "Microsoft.Authorization/*/read",
      "Microsoft.Cdn/edgenodes/read",
      "Microsoft.Cdn/operationresults/*",
      "Microsoft.Cdn/profiles/endpoints/*",
      "Microsoft.Insights/alertRules/*",
      "Microsoft.Resources/deployments/*",
      "Microsoft.Resources/subscriptions/resourceGroups/read",
      "Microsoft.Support/*",
    ],
    notActions: [],
    dataActions: [],
    notDataActions: [],
  }),
  // https://learn.microsoft.com/azure/role-based-access-control/built-in-roles/networking#network-contributor
  builtIn("4d97b98b-1d4f-4787-a291-c67834d212e7", "Network Contributor", {
    actions: [
      "Microsoft.Authorization/*/read",
      "Microsoft.Insights/alertRules/*",
      "Microsoft.Network/*",
      "Microsoft.ResourceHealth/availabilityStatuses/read",
      "Microsoft.Resources/deployments/*",
      "Microsoft.Resources/subscriptions/resourceGroups/read",
      "Microsoft.Support/*",
    ],
    notActions: [],
    dataActions: [],
    notDataActions: [],
  }),
  // https://learn.microsoft.com/azure/role-based-access-control/built-in-roles/web-and-mobile#website-contributor
  builtIn("de139f84-1756-47ae-9be6-808fbbe84772", "Website Contributor", {
    actions: [
      "Microsoft.Authorization/*/read",
      "Microsoft.Insights/alertRules/*",
      "Microsoft.Insights/components/*",
      "Microsoft.ResourceHealth/availabilityStatuses/read",
      "Microsoft.Resources/deployments/*",
      "Microsoft.Resources/subscriptions/resourceGroups/read",
      "Microsoft.Support/*",
      "Microsoft.Web/certificates/*",
      "Microsoft.Web/listSitesAssignedToHostName/read",
      "Microsoft.Web/serverFarms/join/action",
      "Microsoft.Web/serverFarms/read",
      "Microsoft.Web/sites/*",
    ],
    notActions: [],
    dataActions: [],
    notDataActions: [],
  }),
  // https://learn.microsoft.com/azure/role-based-access-control/built-in-roles/web-and-mobile#web-plan-contributor
  builtIn("2cc479cb-7b4d-49a8-b449-8c00fd0f0a4b", "Web Plan Contributor", {
    actions: [
      "Microsoft.Authorization/*/read",
      "Microsoft.Insights/alertRules/*",
      "Microsoft.ResourceHealth/availabilityStatuses/read",
      "Microsoft.Resources/deployments/*",
      "Microsoft.Resources/subscriptions/resourceGroups/read",
      "Microsoft.Support/*",
      "Microsoft.Web/serverFarms/*",
      "Microsoft.Web/hostingEnvironments/Join/Action",
      "Microsoft.Insights/autoscalesettings/*",
    ],
    notActions: [],
    dataActions: [],
    notDataActions: [],
  }),
  // https://learn.microsoft.com/azure/role-based-access-control/built-in-roles/monitor#monitoring-reader
  builtIn("43d0d8ad-25c7-4714-9337-8ba259a9fe05", "Monitoring Reader", {
    actions: [
      "*/read",
      "Microsoft.OperationalInsights/workspaces/search/action",
      "Microsoft.Support/*",
    ],
    notActions: [],
    dataActions: [],
    notDataActions: [],
  }),
  // https://learn.microsoft.com/azure/role-based-access-control/built-in-roles/security#key-vault-reader
  builtIn("21090545-7ca7-4776-b22c-e363652d74d2", "Key Vault Reader", {
    actions: [
      "Microsoft.Authorization/*/read",
      "Microsoft.Insights/alertRules/*",
      "Microsoft.Resources/deployments/*",
      "Microsoft.Resources/subscriptions/resourceGroups/read",
      "Microsoft.Support/*",
      "Microsoft.KeyVault/checkNameAvailability/read",
      "Microsoft.KeyVault/deletedVaults/read",
      "Microsoft.KeyVault/locations/*/read",
      "Microsoft.KeyVault/vaults/*/read",
      "Microsoft.KeyVault/operations/read",
    ],
    notActions: [],
    dataActions: [
      "Microsoft.KeyVault/vaults/*/read",
      "Microsoft.KeyVault/vaults/secrets/readMetadata/action",
    ],
    notDataActions: [],
  }),
  // https://learn.microsoft.com/azure/role-based-access-control/built-in-roles/security#key-vault-secrets-officer
  builtIn("b86a8fe4-44ce-4948-aee5-eccb2c155cd7", "Key Vault Secrets Officer", {
    actions: [
      "Microsoft.Authorization/*/read",
      "Microsoft.Insights/alertRules/*",
      "Microsoft.Resources/deployments/*",
      "Microsoft.Resources/subscriptions/resourceGroups/read",
      "Microsoft.Support/*",
      "Microsoft.KeyVault/checkNameAvailability/read",
      "Microsoft.KeyVault/deletedVaults/read",
      "Microsoft.KeyVault/locations/*/read",
      "Microsoft.KeyVault/vaults/*/read",
      "Microsoft.KeyVault/operations/read",
    ],
    notActions: [],
    dataActions: ["Microsoft.KeyVault/vaults/secrets/*"],
    notDataActions: [],
  }),
  // https://learn.microsoft.com/azure/role-based-access-control/built-in-roles/security#key-vault-secrets-user
  builtIn("4633458b-17de-408a-b874-0445c86b69e6", "Key Vault Secrets User", {
    actions: [],
    notActions: [],
    dataActions: [
      "Microsoft.KeyVault/vaults/secrets/getSecret/action",
      "Microsoft.KeyVault/vaults/secrets/readMetadata/action",
    ],
    notDataActions: [],
  }),
];

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const DEFINITION_ID = /^(?:\/subscriptions\/[^/]+)?\/providers\/Microsoft\.Authorization\/roleDefinitions\/([^/]+)$/i;

/**
 * A built-in role by its display name (any case), its GUID, or its role definition id
 * (`[/subscriptions/{id}]/providers/Microsoft.Authorization/roleDefinitions/{guid}`); undefined for any other.
 */
export function findBuiltInRole(nameOrId: string): BuiltInRole | undefined {
  const text = nameOrId.trim();
  const guid = DEFINITION_ID.exec(text)?.[1] ?? text;
  if (GUID.test(guid)) return BUILT_IN_ROLES.find((r) => r.id === guid.toLowerCase());
  const name = text.toLowerCase();
  return BUILT_IN_ROLES.find((r) => r.roleName.toLowerCase() === name);
}

/**
 * Whether a permission string (`Microsoft.Sql/servers/*`, `*` then `/read`, `*`) matches an action, as
 * Azure matches them: without regard to case, each `*` standing for any run of characters. A run of
 * stars is one star. The literal parts between stars are found left to right, each from where the one
 * before it ended (the leftmost place is always the right one when `*` is the only wildcard), and each
 * search reads the action forward only (`indexFrom`): the time taken grows with the lengths of the
 * pattern and the action, never with their product, so a pattern from a custom role cannot make a
 * request slow.
 */
export function actionMatches(pattern: string, action: string): boolean {
  const parts = pattern.toLowerCase().replace(/\*+/g, "*").split("*");
  const text = action.toLowerCase();
  const first = parts[0]!;
  if (parts.length === 1) return text === first;
  const last = parts[parts.length - 1]!;
  if (text.length < first.length + last.length || !text.startsWith(first) || !text.endsWith(last)) return false;
  const end = text.length - last.length;
  let at = first.length;
  for (const part of parts.slice(1, -1)) {
    const found = indexFrom(text, part, at, end);
    if (found < 0) return false;
    at = found + part.length;
  }
  return true;
}

/**
 * Where `part` first occurs in `text` between `from` and `end` (Knuth–Morris–Pratt: the text is read
 * once, forward, whatever the two hold), or -1.
 */
function indexFrom(text: string, part: string, from: number, end: number): number {
  if (part === "") return from;
  const fallback = new Array<number>(part.length).fill(0);
  for (let i = 1, k = 0; i < part.length; i++) {
    while (k > 0 && part[i] !== part[k]) k = fallback[k - 1]!;
    if (part[i] === part[k]) k++;
    fallback[i] = k;
  }
  for (let i = from, k = 0; i < end; i++) {
    while (k > 0 && text[i] !== part[k]) k = fallback[k - 1]!;
    if (text[i] === part[k]) k++;
    if (k === part.length) return i - part.length + 1;
  }
  return -1;
}

/** Whether one permission block grants an action: one of its Actions (DataActions) matches and none of its NotActions (NotDataActions) does. */
export function permissionGrants(permission: RolePermission, action: string, kind: ActionKind = "action"): boolean {
  const [allowed, excluded] = kind === "action" ? [permission.actions, permission.notActions] : [permission.dataActions, permission.notDataActions];
  return allowed.some((p) => actionMatches(p, action)) && !excluded.some((p) => actionMatches(p, action));
}

/**
 * Whether a set of permission blocks (every role assigned to a caller at a scope and above) grants an
 * action: Azure's effective permissions are the union of what each block grants.
 */
export function grants(permissions: readonly RolePermission[], action: string, kind: ActionKind = "action"): boolean {
  return permissions.some((p) => permissionGrants(p, action, kind));
}
