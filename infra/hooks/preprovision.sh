#!/bin/sh
# azd preprovision: the plans' role assignments for infra/main.bicep, and the secure webhook's
# prerequisite in Microsoft Entra ID. Needs `npm ci` to have been run in the checkout.
set -eu

plans_dir="${SWITCHYARD_PLANS_DIR:-plans}"
echo "Role assignments for the plans in ${plans_dir}/ (Switchyard in ${AZURE_LOCATION}):"
npx --no-install switchyard infra roles --plans-dir "$plans_dir" --location "$AZURE_LOCATION" --out infra/plan-roles.json

# Azure Monitor's secure webhook tokens come from the Action Groups application; infra/app/entra.bicep
# gives its service principal the ActionGroupsSecureWebhook role, so it must exist in the tenant.
action_groups_app_id=461e8683-5575-4561-ac7f-899cc907d62a
if command -v az >/dev/null 2>&1; then
  if ! az ad sp show --id "$action_groups_app_id" >/dev/null 2>&1; then
    echo "Creating the service principal of Azure Monitor's Action Groups application in this tenant"
    az ad sp create --id "$action_groups_app_id" >/dev/null
  fi
else
  echo "az (Azure CLI) not found: make sure the Action Groups service principal exists (az ad sp create --id $action_groups_app_id)" >&2
fi
