// One role assignment for Switchyard's managed identity, scoped to a Microsoft.Cdn/profiles the plans name
// (deployed in that resource's subscription and resource group).
param resourceName string
param principalId string
@description('A built-in role\'s GUID, or the GUID of a custom role defined by main.bicep.')
param roleDefinitionGuid string

resource target 'Microsoft.Cdn/profiles@2024-02-01' existing = {
  name: resourceName
}

resource assignment 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  scope: target
  name: guid(target.id, principalId, roleDefinitionGuid)
  properties: {
    principalId: principalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roleDefinitionGuid)
  }
}
