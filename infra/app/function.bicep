// The Function App on a Flex Consumption plan: Linux, Node 22, Durable Functions, executions not cut
// short at 30 minutes (host.json functionTimeout 00:30:00; each activity has a 25-minute budget).
// Flex Consumption takes the runtime and version from functionAppConfig, not from app settings:
// FUNCTIONS_WORKER_RUNTIME, FUNCTIONS_EXTENSION_VERSION, WEBSITE_RUN_FROM_PACKAGE and the
// WEBSITE_CONTENT* settings are not used there
// (https://learn.microsoft.com/azure/azure-functions/functions-app-settings#flex-consumption-plan-deprecations).
param name string
param planName string
param location string
param tags object
param identityId string
param identityClientId string
param storageAccountName string
param blobEndpoint string
param deploymentContainer string
param plansContainer string
param journalContainer string
param stateContainer string
param appInsightsConnectionString string
param taskHubName string
@description('The Durable Task Scheduler\'s endpoint; empty: the Azure Storage backend.')
param schedulerEndpoint string
@description('Client id of the Entra app registration App Service authentication validates tokens for.')
param authClientId string
@description('Its application ID URI: the audience of the action group\'s secure webhook token.')
param authIdentifierUri string
param drillSchedule string
@secure()
param notificationSettings object

@allowed([2048, 4096])
param instanceMemoryMB int = 2048
param maximumInstanceCount int = 40

var useScheduler = !empty(schedulerEndpoint)
// Azure Monitor's app role, carried by the action group's token (src/core/alerts/secureWebhook.ts).
var secureWebhookRole = 'ActionGroupsSecureWebhook'

var appSettings = {
  // Host storage with the managed identity (no connection string, no key).
  AzureWebJobsStorage__accountName: storageAccountName
  AzureWebJobsStorage__credential: 'managedidentity'
  AzureWebJobsStorage__clientId: identityClientId
  APPLICATIONINSIGHTS_CONNECTION_STRING: appInsightsConnectionString
  // The host sends its telemetry with the identity (role: Monitoring Metrics Publisher).
  APPLICATIONINSIGHTS_AUTHENTICATION_STRING: 'ClientId=${identityClientId};Authorization=AAD'
  AZURE_CLIENT_ID: identityClientId
  SWITCHYARD_TARGET: 'azure'
  // Stack traces name the TypeScript sources through the bundle's source maps (Node's own flag,
  // passed to the worker: https://learn.microsoft.com/azure/azure-functions/functions-reference-node).
  languageWorkers__node__arguments: '--enable-source-maps'
  SWITCHYARD_AZURE_CLOUD: environment().name == 'AzureCloud' ? 'AzurePublicCloud' : environment().name
  SWITCHYARD_STORAGE_ACCOUNT_URL: blobEndpoint
  SWITCHYARD_PLANS_CONTAINER: plansContainer
  SWITCHYARD_JOURNAL_CONTAINER: journalContainer
  SWITCHYARD_STATE_CONTAINER: stateContainer
  SWITCHYARD_TASK_HUB: taskHubName
  // Secure webhook: Azure Monitor's token for the app registration, in this tenant.
  SWITCHYARD_ALERT_TENANT_ID: tenant().tenantId
  SWITCHYARD_ALERT_AUDIENCE: authIdentifierUri
  SWITCHYARD_ALERT_ALLOWED_ROLES: secureWebhookRole
  // The override API checks operators' tokens itself (Switchyard.Operator role), for either form of
  // the audience Entra puts in them (v1 tokens: the identifier URI; v2: the client id), instead of
  // trusting the principal header App Service authentication would set in front.
  SWITCHYARD_OPERATOR_AUDIENCE: '${authIdentifierUri},${authClientId}'
  // Empty: no scheduled drill.
  SWITCHYARD_DRILL_SCHEDULE: drillSchedule
}

// The Durable Task Scheduler backend without editing host.json: app settings override host.json
// (AzureFunctionsJobHost__path__to__setting), here extensions.durableTask.storageProvider.
var schedulerSettings = useScheduler
  ? {
      DURABLE_TASK_SCHEDULER_CONNECTION_STRING: 'Endpoint=${schedulerEndpoint};Authentication=ManagedIdentity;ClientID=${identityClientId}'
      AzureFunctionsJobHost__extensions__durableTask__storageProvider__type: 'azureManaged'
      AzureFunctionsJobHost__extensions__durableTask__storageProvider__connectionStringName: 'DURABLE_TASK_SCHEDULER_CONNECTION_STRING'
    }
  : {}

resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  name: planName
  location: location
  tags: tags
  kind: 'functionapp'
  sku: {
    tier: 'FlexConsumption'
    name: 'FC1'
  }
  properties: {
    reserved: true
  }
}

resource site 'Microsoft.Web/sites@2024-04-01' = {
  name: name
  location: location
  tags: union(tags, { 'azd-service-name': 'switchyard' })
  kind: 'functionapp,linux'
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: { '${identityId}': {} }
  }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    // Key Vault references in app settings (notification channels) resolve with this identity.
    keyVaultReferenceIdentity: identityId
    siteConfig: {
      minTlsVersion: '1.2'
      ftpsState: 'Disabled'
    }
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: '${blobEndpoint}${deploymentContainer}'
          authentication: {
            type: 'UserAssignedIdentity'
            userAssignedIdentityResourceId: identityId
          }
        }
      }
      scaleAndConcurrency: {
        instanceMemoryMB: instanceMemoryMB
        maximumInstanceCount: maximumInstanceCount
      }
      runtime: {
        name: 'node'
        version: '22'
      }
    }
  }

  resource settings 'config' = {
    name: 'appsettings'
    properties: union(appSettings, schedulerSettings, notificationSettings)
  }

  // App Service authentication: every request needs a Microsoft Entra token for the app registration
  // (401 otherwise). The app checks the tokens itself as well: the override API needs the
  // Switchyard.Operator role (SWITCHYARD_OPERATOR_AUDIENCE), /api/alerts the action group's token with
  // ActionGroupsSecureWebhook. Event Grid's deliveries to the
  // keyVaultSecretEvents function carry no Entra token (they are checked with the system key).
  resource auth 'config' = {
    name: 'authsettingsV2'
    // Writes to a site's config are made one after the other (concurrent ones can fail).
    dependsOn: [settings]
    properties: {
      platform: {
        enabled: true
      }
      globalValidation: {
        requireAuthentication: true
        unauthenticatedClientAction: 'Return401'
        excludedPaths: ['/runtime/webhooks/eventgrid']
      }
      identityProviders: {
        azureActiveDirectory: {
          enabled: true
          registration: {
            clientId: authClientId
            openIdIssuer: '${environment().authentication.loginEndpoint}${tenant().tenantId}/v2.0'
          }
          validation: {
            allowedAudiences: [authIdentifierUri, authClientId]
          }
        }
      }
      login: {
        tokenStore: {
          enabled: false
        }
      }
    }
  }
}

output name string = site.name
output id string = site.id
output defaultHostName string = site.properties.defaultHostName
