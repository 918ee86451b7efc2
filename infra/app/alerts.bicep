// The action group alert rules point at: one webhook receiver posting to Switchyard's alert webhook
// with the common alert schema and the secure webhook (an Entra token for the app registration).
// The route has the function authorization level (src/functions/http.ts): the URL carries the
// host's default function key.
param name string
param tags object
param functionAppName string
@description('Object id of the Entra app registration (the secure webhook\'s application).')
param appObjectId string
param appIdentifierUri string

resource site 'Microsoft.Web/sites@2024-04-01' existing = {
  name: functionAppName
}

var functionKey = listKeys('${site.id}/host/default', '2024-04-01').functionKeys.default

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
        serviceUri: 'https://${site.properties.defaultHostName}/api/alerts?code=${functionKey}'
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
