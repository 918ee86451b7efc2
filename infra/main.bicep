// Switchyard on Azure: a Function App (Flex Consumption, Node 22) with a user-assigned managed identity,
// its own storage account (identity-based host storage, no shared keys), Application Insights, App
// Service authentication with a Microsoft Entra app registration, the action group that sends alerts
// to the alert webhook, and the role assignments the plans need (infra/plan-roles.json, written by
// `switchyard infra roles` in the azd preprovision hook).
targetScope = 'subscription'

@minLength(1)
@maxLength(64)
@description('Name of the azd environment: part of every resource name and the azd-env-name tag.')
param environmentName string

@minLength(1)
@description('Region of Switchyard itself. Not a plan\'s primary region: the preprovision hook warns when it is (deploy in the plan\'s secondary region or another one).')
@metadata({ azd: { type: 'location' } })
param location string

@description('Durable Functions backend: the storage account (default) or a Durable Task Scheduler (with its task hub).')
@allowed(['AzureStorage', 'DurableTaskScheduler'])
param durableBackend string = 'AzureStorage'

@description('Task hub name (SWITCHYARD_TASK_HUB; also the Durable Task Scheduler task hub\'s name).')
param taskHubName string = 'switchyard'

@description('NCRONTAB schedule of planned drills (SWITCHYARD_DRILL_SCHEDULE), e.g. 0 0 4 * * 2. Empty: no scheduled drill.')
param drillSchedule string = ''

@description('Use this Entra app registration (client id) instead of creating one with the Microsoft Graph extension. Give its object id and identifier URI too.')
param existingAppClientId string = ''
param existingAppObjectId string = ''
param existingAppIdentifierUri string = ''

@description('Object ids of users or groups to give the Switchyard.Operator app role (override API). Only when the app registration is created here.')
param operatorPrincipalIds array = []

@secure()
@description('Extra app settings, such as the settings a plan\'s notification channels name. Give secrets as Key Vault references (@Microsoft.KeyVault(SecretUri=...)), resolved with the managed identity.')
param notificationSettings object = {}

@description('Create the action group whose secure webhook posts alerts to /api/alerts.')
param createActionGroup bool = true

var abbrs = loadJsonContent('abbreviations.json')
var planRoles = loadJsonContent('plan-roles.json')
var resourceToken = toLower(uniqueString(subscription().id, environmentName, location))
var tags = { 'azd-env-name': environmentName }
var createApp = empty(existingAppClientId)

resource rg 'Microsoft.Resources/resourceGroups@2024-03-01' = {
  name: '${abbrs.resourcesResourceGroups}${environmentName}'
  location: location
  tags: tags
}

module identity 'core/identity.bicep' = {
  name: 'identity'
  scope: rg
  params: {
    name: '${abbrs.managedIdentityUserAssignedIdentities}switchyard-${resourceToken}'
    location: location
    tags: tags
  }
}

module storage 'core/storage.bicep' = {
  name: 'storage'
  scope: rg
  params: {
    name: '${abbrs.storageStorageAccounts}swy${resourceToken}'
    location: location
    tags: tags
    principalId: identity.outputs.principalId
  }
}

module monitoring 'core/monitoring.bicep' = {
  name: 'monitoring'
  scope: rg
  params: {
    workspaceName: '${abbrs.operationalInsightsWorkspaces}switchyard-${resourceToken}'
    appInsightsName: '${abbrs.insightsComponents}switchyard-${resourceToken}'
    location: location
    tags: tags
    principalId: identity.outputs.principalId
  }
}

module scheduler 'core/durable-task-scheduler.bicep' = if (durableBackend == 'DurableTaskScheduler') {
  name: 'durable-task-scheduler'
  scope: rg
  params: {
    name: '${abbrs.durableTaskSchedulers}switchyard-${resourceToken}'
    taskHubName: taskHubName
    location: location
    tags: tags
    principalId: identity.outputs.principalId
  }
}

module entraApp 'app/entra.bicep' = if (createApp) {
  name: 'entra-app'
  scope: rg
  params: {
    uniqueName: 'switchyard-${environmentName}-${resourceToken}'
    displayName: 'Switchyard (${environmentName})'
    identifierUri: 'api://${tenant().tenantId}/switchyard-${environmentName}-${resourceToken}'
    operatorPrincipalIds: operatorPrincipalIds
  }
}

var appClientId = createApp ? entraApp!.outputs.clientId : existingAppClientId
var appObjectId = createApp ? entraApp!.outputs.objectId : existingAppObjectId
var appIdentifierUri = createApp ? entraApp!.outputs.identifierUri : existingAppIdentifierUri

module functionApp 'app/function.bicep' = {
  name: 'function-app'
  scope: rg
  params: {
    name: '${abbrs.webSitesFunctions}switchyard-${resourceToken}'
    planName: '${abbrs.webServerFarms}switchyard-${resourceToken}'
    location: location
    tags: tags
    identityId: identity.outputs.id
    identityClientId: identity.outputs.clientId
    storageAccountName: storage.outputs.name
    blobEndpoint: storage.outputs.blobEndpoint
    deploymentContainer: storage.outputs.deploymentContainer
    plansContainer: storage.outputs.plansContainer
    journalContainer: storage.outputs.journalContainer
    stateContainer: storage.outputs.stateContainer
    appInsightsConnectionString: monitoring.outputs.connectionString
    taskHubName: taskHubName
    schedulerEndpoint: durableBackend == 'DurableTaskScheduler' ? scheduler!.outputs.endpoint : ''
    authClientId: appClientId
    authIdentifierUri: appIdentifierUri
    drillSchedule: drillSchedule
    notificationSettings: notificationSettings
  }
}

module alerts 'app/alerts.bicep' = if (createActionGroup) {
  name: 'alerts'
  scope: rg
  params: {
    name: '${abbrs.insightsActionGroups}switchyard-${resourceToken}'
    tags: tags
    functionAppName: functionApp.outputs.name
    appObjectId: appObjectId
    appIdentifierUri: appIdentifierUri
  }
}

// The custom roles the plans' assignments use, defined once in this subscription and assignable in
// every subscription holding a scope they are assigned at. Names carry the environment: a custom
// role's name is unique in the tenant.
resource customRoles 'Microsoft.Authorization/roleDefinitions@2022-04-01' = [for role in planRoles.customRoles: {
  name: guid(subscription().id, environmentName, role.key)
  properties: {
    // A custom role's name is unique in the tenant: the environment and its token keep two deployments apart.
    roleName: '${role.name} (${environmentName}-${resourceToken})'
    description: role.description
    type: 'CustomRole'
    permissions: [
      {
        actions: role.actions
        notActions: []
      }
    ]
    // This subscription too: the definition lives here.
    assignableScopes: union([toLower(subscription().id)], map(role.subscriptions, sub => '/subscriptions/${sub}'))
  }
}]

// The plans' role assignments, each at its resource (or resource group), in the resource's own
// subscription and resource group. One module per kind of resource (infra/roles/).
module sqlServerRoles 'roles/sql-server.bicep' = [for (a, i) in planRoles.assignments.sqlServer: {
  name: 'roles-sql-${i}'
  scope: resourceGroup(a.subscriptionId, a.resourceGroup)
  params: { resourceName: a.name, principalId: identity.outputs.principalId, roleDefinitionGuid: empty(a.roleDefinitionId) ? guid(subscription().id, environmentName, a.customRole) : a.roleDefinitionId }
  dependsOn: [customRoles]
}]

module storageAccountRoles 'roles/storage-account.bicep' = [for (a, i) in planRoles.assignments.storageAccount: {
  name: 'roles-storage-${i}'
  scope: resourceGroup(a.subscriptionId, a.resourceGroup)
  params: { resourceName: a.name, principalId: identity.outputs.principalId, roleDefinitionGuid: empty(a.roleDefinitionId) ? guid(subscription().id, environmentName, a.customRole) : a.roleDefinitionId }
  dependsOn: [customRoles]
}]

module frontDoorProfileRoles 'roles/front-door-profile.bicep' = [for (a, i) in planRoles.assignments.frontDoorProfile: {
  name: 'roles-afd-${i}'
  scope: resourceGroup(a.subscriptionId, a.resourceGroup)
  params: { resourceName: a.name, principalId: identity.outputs.principalId, roleDefinitionGuid: empty(a.roleDefinitionId) ? guid(subscription().id, environmentName, a.customRole) : a.roleDefinitionId }
  dependsOn: [customRoles]
}]

module frontDoorClassicRoles 'roles/front-door-classic.bicep' = [for (a, i) in planRoles.assignments.frontDoorClassic: {
  name: 'roles-fd-classic-${i}'
  scope: resourceGroup(a.subscriptionId, a.resourceGroup)
  params: { resourceName: a.name, principalId: identity.outputs.principalId, roleDefinitionGuid: empty(a.roleDefinitionId) ? guid(subscription().id, environmentName, a.customRole) : a.roleDefinitionId }
  dependsOn: [customRoles]
}]

module appServiceRoles 'roles/app-service.bicep' = [for (a, i) in planRoles.assignments.appService: {
  name: 'roles-site-${i}'
  scope: resourceGroup(a.subscriptionId, a.resourceGroup)
  params: { resourceName: a.name, principalId: identity.outputs.principalId, roleDefinitionGuid: empty(a.roleDefinitionId) ? guid(subscription().id, environmentName, a.customRole) : a.roleDefinitionId }
  dependsOn: [customRoles]
}]

module keyVaultRoles 'roles/key-vault.bicep' = [for (a, i) in planRoles.assignments.keyVault: {
  name: 'roles-vault-${i}'
  scope: resourceGroup(a.subscriptionId, a.resourceGroup)
  params: { resourceName: a.name, principalId: identity.outputs.principalId, roleDefinitionGuid: empty(a.roleDefinitionId) ? guid(subscription().id, environmentName, a.customRole) : a.roleDefinitionId }
  dependsOn: [customRoles]
}]

module resourceGroupRoles 'roles/resource-group.bicep' = [for (a, i) in planRoles.assignments.resourceGroup: {
  name: 'roles-rg-${i}'
  scope: resourceGroup(a.subscriptionId, a.resourceGroup)
  params: { principalId: identity.outputs.principalId, roleDefinitionGuid: empty(a.roleDefinitionId) ? guid(subscription().id, environmentName, a.customRole) : a.roleDefinitionId }
  dependsOn: [customRoles]
}]

output AZURE_LOCATION string = location
output AZURE_TENANT_ID string = tenant().tenantId
output AZURE_RESOURCE_GROUP string = rg.name
output AZURE_CLIENT_ID string = identity.outputs.clientId
output SWITCHYARD_FUNCTION_APP_NAME string = functionApp.outputs.name
output SWITCHYARD_APP_URL string = 'https://${functionApp.outputs.defaultHostName}'
output SWITCHYARD_APP_SCOPE string = appIdentifierUri
output SWITCHYARD_APP_CLIENT_ID string = appClientId
output SWITCHYARD_APP_USER_SCOPE_ID string = createApp ? entraApp!.outputs.userScopeId : ''
output SWITCHYARD_STORAGE_ACCOUNT_URL string = storage.outputs.blobEndpoint
output SWITCHYARD_PLANS_CONTAINER string = storage.outputs.plansContainer
output APPLICATIONINSIGHTS_NAME string = monitoring.outputs.appInsightsName
output SWITCHYARD_ACTION_GROUP_ID string = createActionGroup ? alerts!.outputs.id : ''
