// One role assignment for Switchyard's managed identity at a resource group holding plan resources
// (the operation status reads Azure answers only at the resource group).
param principalId string
@description('A built-in role\'s GUID, or the GUID of a custom role defined by main.bicep.')
param roleDefinitionGuid string

resource assignment 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(resourceGroup().id, principalId, roleDefinitionGuid)
  properties: {
    principalId: principalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roleDefinitionGuid)
  }
}
