// Switchyard's own storage account: the Functions host's storage (AzureWebJobsStorage, with the
// identity), the Durable Functions Azure Storage backend (queues, tables, blobs), the Flex Consumption
// deployment package, and Switchyard's plans, journals and state. Shared keys are off: every caller
// signs in with Microsoft Entra ID.
param name string
param location string
param tags object
@description('Principal id of Switchyard\'s managed identity.')
param principalId string
@allowed(['Standard_LRS', 'Standard_ZRS', 'Standard_GRS', 'Standard_GZRS'])
param sku string = 'Standard_LRS'

// Names Switchyard uses by default (src/config/settings.ts); the app settings name them explicitly.
var plansContainer = 'switchyard-plans'
var journalContainer = 'switchyard-journal'
var stateContainer = 'switchyard-state'
var deploymentContainer = 'app-package'

// Built-in roles (https://learn.microsoft.com/azure/role-based-access-control/built-in-roles/storage).
var roles = {
  // The Functions host with an identity-based AzureWebJobsStorage: Storage Blob Data Owner
  // (https://learn.microsoft.com/azure/azure-functions/functions-reference#connecting-to-host-storage-with-an-identity).
  blobDataOwner: 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b'
  // Switchyard's own blobs (the `own` entry of `switchyard plan roles`): plans, journals, state.
  blobDataContributor: 'ba92f5b4-2d11-453d-a403-e96b0029c9fe'
  // The Durable Functions Azure Storage backend: control and work-item queues, history and instance tables
  // (https://learn.microsoft.com/azure/azure-functions/durable/durable-functions-configure-managed-identity).
  queueDataContributor: '974c5e8b-45b9-4653-ba55-5f855dd0fb88'
  tableDataContributor: '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3'
}

resource account 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  name: name
  location: location
  tags: tags
  kind: 'StorageV2'
  sku: { name: sku }
  properties: {
    allowSharedKeyAccess: false
    defaultToOAuthAuthentication: true
    allowBlobPublicAccess: false
    minimumTlsVersion: 'TLS1_2'
    supportsHttpsTrafficOnly: true
    publicNetworkAccess: 'Enabled'
  }
}

resource blobs 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' = {
  parent: account
  name: 'default'
}

resource containers 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = [for container in [plansContainer, journalContainer, stateContainer, deploymentContainer]: {
  parent: blobs
  name: container
  properties: { publicAccess: 'None' }
}]

resource assignments 'Microsoft.Authorization/roleAssignments@2022-04-01' = [for role in items(roles): {
  scope: account
  name: guid(account.id, principalId, role.value)
  properties: {
    principalId: principalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', role.value)
  }
}]

output name string = account.name
output id string = account.id
output blobEndpoint string = account.properties.primaryEndpoints.blob
output plansContainer string = plansContainer
output journalContainer string = journalContainer
output stateContainer string = stateContainer
output deploymentContainer string = deploymentContainer
