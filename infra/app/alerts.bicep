// The action group alert rules point at: one webhook receiver posting to Switchyard's alert webhook
// with the common alert schema and the secure webhook (an Entra token for the app registration).
// With the secure webhook configured (SWITCHYARD_ALERT_TENANT_ID and SWITCHYARD_ALERT_AUDIENCE, set by
// function.bicep) the route takes no function key (src/functions/http.ts): the app checks Azure
// Monitor's Entra token itself, so the URL carries no key (nothing to read with listKeys on a host
// that may not have started yet, nothing for readers of the action group to see, nothing to rotate).
param name string
param tags object
param functionAppName string
@description('Object id of the Entra app registration (the secure webhook\'s application).')
param appObjectId string
param appIdentifierUri string

resource site 'Microsoft.Web/sites@2024-04-01' existing = {
  name: functionAppName
}

resource actionGroup 'Microsoft.Insights/actionGroups@2023-01-01' = {
  name: name
  location: 'Global'
  tags: tags
  properties: {
    groupShortName: 'switchyard'
    enabled: true
    webhookReceivers: [
      {
        name: 'switchyard-alerts'
        serviceUri: 'https://${site.properties.defaultHostName}/api/alerts'
        useCommonAlertSchema: true
        useAadAuth: true
        objectId: appObjectId
        identifierUri: appIdentifierUri
        tenantId: tenant().tenantId
      }
    ]
  }
}

output id string = actionGroup.id
output name string = actionGroup.name
