// The user-assigned managed identity Switchyard uses for everything: host storage, its own blobs,
// Application Insights ingestion, the Durable Task Scheduler, Key Vault references and every plan's
// resources (AZURE_CLIENT_ID).
param name string
param location string
param tags object

resource identity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: name
  location: location
  tags: tags
}

output id string = identity.id
output clientId string = identity.properties.clientId
output principalId string = identity.properties.principalId
output name string = identity.name
