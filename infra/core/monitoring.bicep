// Application Insights on a Log Analytics workspace, and the role that lets Switchyard's identity send
// telemetry with Microsoft Entra ID (APPLICATIONINSIGHTS_AUTHENTICATION_STRING;
// https://learn.microsoft.com/azure/azure-monitor/app/azure-ad-authentication).
param workspaceName string
param appInsightsName string
param location string
param tags object
param principalId string

// Monitoring Metrics Publisher: despite the name, it publishes all telemetry to the resource.
var monitoringMetricsPublisher = '3913510d-42f4-4e42-8a64-420c390055eb'

resource workspace 'Microsoft.OperationalInsights/workspaces@2023-09-01' = {
  name: workspaceName
  location: location
  tags: tags
  properties: {
    sku: { name: 'PerGB2018' }
    retentionInDays: 30
  }
}

resource appInsights 'Microsoft.Insights/components@2020-02-02' = {
  name: appInsightsName
  location: location
  tags: tags
  kind: 'web'
  properties: {
    Application_Type: 'web'
    WorkspaceResourceId: workspace.id
    // Local (instrumentation key) authentication stays on. Switchyard's own telemetry is sent with
    // Entra ID (APPLICATIONINSIGHTS_AUTHENTICATION_STRING); only when its exporter cannot be set up do
    // the lag metrics fall back to the classic ingestion API with the connection string alone
    // (src/azure/appInsights.ts), and the Functions host's own telemetry with Entra-only ingestion is
    // not verified here. Set it to true where policy requires Entra-only ingestion.
    DisableLocalAuth: false
  }
}

resource publisher 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  scope: appInsights
  name: guid(appInsights.id, principalId, monitoringMetricsPublisher)
  properties: {
    principalId: principalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', monitoringMetricsPublisher)
  }
}

output connectionString string = appInsights.properties.ConnectionString
output appInsightsName string = appInsights.name
output workspaceId string = workspace.id
