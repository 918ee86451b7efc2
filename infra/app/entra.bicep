// The Microsoft Entra app registration App Service authentication validates tokens for, with its two
// app roles, created with the Microsoft Graph Bicep extension (infra/bicepconfig.json;
// https://learn.microsoft.com/graph/templates/reference/overview). The deploying user needs to be
// allowed to create applications (Application Developer, or the tenant's default user setting) and
// to assign app roles (Cloud Application Administrator, or owner of the app for its own roles).
extension microsoftGraphV1

param uniqueName string
param displayName string
@description('Application ID URI: the secure webhook\'s audience, and the scope operators ask tokens for.')
param identifierUri string
@description('Object ids of users or groups given Switchyard.Operator.')
param operatorPrincipalIds array = []

// The Action Groups first-party application (Azure Monitor's secure webhook caller;
// src/core/alerts/secureWebhook.ts ACTION_GROUPS_APP_ID). Its service principal must exist in the
// tenant: the preprovision hook creates it when it does not (az ad sp create --id ...).
var actionGroupsAppId = '461e8683-5575-4561-ac7f-899cc907d62a'
var operatorRoleId = guid(uniqueName, 'Switchyard.Operator')
var secureWebhookRoleId = guid(uniqueName, 'ActionGroupsSecureWebhook')
var userScopeId = guid(uniqueName, 'user_impersonation')

resource app 'Microsoft.Graph/applications@v1.0' = {
  uniqueName: uniqueName
  displayName: displayName
  signInAudience: 'AzureADMyOrg'
  identifierUris: [identifierUri]
  // A delegated scope, so that operators' tools (the Azure CLI behind `switchyard failover` and the
  // rest) can ask for a token for the app; the token's roles claim carries Switchyard.Operator.
  api: {
    oauth2PermissionScopes: [
      {
        id: userScopeId
        value: 'user_impersonation'
        type: 'User'
        adminConsentDisplayName: 'Call Switchyard'
        adminConsentDescription: 'Call Switchyard\'s API as the signed-in user.'
        userConsentDisplayName: 'Call Switchyard'
        userConsentDescription: 'Call Switchyard\'s API as you.'
        isEnabled: true
      }
    ]
  }
  appRoles: [
    {
      id: operatorRoleId
      value: 'Switchyard.Operator'
      displayName: 'Switchyard operator'
      description: 'Use the manual override API: failover, failback, approve, abort, pause, resume, rotate.'
      allowedMemberTypes: ['User', 'Application']
      isEnabled: true
    }
    {
      id: secureWebhookRoleId
      value: 'ActionGroupsSecureWebhook'
      displayName: 'Action Groups secure webhook'
      description: 'Azure Monitor action groups posting alerts to /api/alerts.'
      allowedMemberTypes: ['Application']
      isEnabled: true
    }
  ]
}

// Only principals given one of the app's roles get tokens for it (operators, the Action Groups
// application): any other user or application of the tenant is refused a token by Entra ID.
resource servicePrincipal 'Microsoft.Graph/servicePrincipals@v1.0' = {
  appId: app.appId
  appRoleAssignmentRequired: true
}

resource actionGroups 'Microsoft.Graph/servicePrincipals@v1.0' existing = {
  appId: actionGroupsAppId
}

// Azure Monitor's documented secure webhook setup: the ActionGroupsSecureWebhook role assigned to the
// Action Groups service principal, so its tokens for this app carry the role the app checks.
resource secureWebhookAssignment 'Microsoft.Graph/appRoleAssignedTo@v1.0' = {
  appRoleId: secureWebhookRoleId
  principalId: actionGroups.id
  resourceId: servicePrincipal.id
}

resource operators 'Microsoft.Graph/appRoleAssignedTo@v1.0' = [for principal in operatorPrincipalIds: {
  appRoleId: operatorRoleId
  principalId: principal
  resourceId: servicePrincipal.id
}]

output clientId string = app.appId
output objectId string = app.id
output identifierUri string = identifierUri
output userScopeId string = userScopeId
