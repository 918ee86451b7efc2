// Optional Durable Functions backend: a Durable Task Scheduler and its task hub, with Durable Task
// Data Contributor for Switchyard's identity (the role most Durable Functions apps need:
// https://learn.microsoft.com/azure/azure-functions/durable/durable-task-scheduler/durable-task-scheduler-identity).
param name string
param taskHubName string
param location string
param tags object
param principalId string
@allowed(['Consumption', 'Dedicated'])
param sku string = 'Consumption'

var durableTaskDataContributor = '0ad04412-c4d5-4796-b79c-f76d14c8d402'

resource scheduler 'Microsoft.DurableTask/schedulers@2025-11-01' = {
  name: name
  location: location
  tags: tags
  properties: {
    sku: { name: sku }
    // An empty list refuses every caller; access is still by Entra ID and the role below.
    ipAllowlist: ['0.0.0.0/0']
  }
}

resource taskHub 'Microsoft.DurableTask/schedulers/taskHubs@2025-11-01' = {
  parent: scheduler
  name: taskHubName
}

resource contributor 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  scope: scheduler
  name: guid(scheduler.id, principalId, durableTaskDataContributor)
  properties: {
    principalId: principalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', durableTaskDataContributor)
  }
}

output endpoint string = scheduler.properties.endpoint
output taskHubName string = taskHub.name
