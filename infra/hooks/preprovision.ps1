# azd preprovision (Windows): as preprovision.sh.
$ErrorActionPreference = 'Stop'
$plansDir = if ($env:SWITCHYARD_PLANS_DIR) { $env:SWITCHYARD_PLANS_DIR } else { 'plans' }
Write-Host "Role assignments for the plans in $plansDir/ (Switchyard in $env:AZURE_LOCATION):"
npx --no-install switchyard infra roles --plans-dir $plansDir --location $env:AZURE_LOCATION --out infra/plan-roles.json
if ($LASTEXITCODE -ne 0) { exit $LASTEXITCODE }

$actionGroupsAppId = '461e8683-5575-4561-ac7f-899cc907d62a'
if (Get-Command az -ErrorAction SilentlyContinue) {
  az ad sp show --id $actionGroupsAppId *> $null
  if ($LASTEXITCODE -ne 0) {
    Write-Host "Creating the service principal of Azure Monitor's Action Groups application in this tenant"
    az ad sp create --id $actionGroupsAppId | Out-Null
    if ($LASTEXITCODE -ne 0) { exit $LASTEXITCODE }
  }
} else {
  Write-Warning "az (Azure CLI) not found: make sure the Action Groups service principal exists (az ad sp create --id $actionGroupsAppId)"
}
