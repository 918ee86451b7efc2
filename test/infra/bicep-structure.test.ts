/**
 * The deployment's Bicep and azure.yaml, checked by reading them (no Bicep compiler here): what they
 * reference exists, parameters line up, a role module exists for every kind of scope the plans' roles
 * can have, and the properties Switchyard depends on are what they must be.
 */
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { parse as parseYaml } from "yaml";
import { describe, expect, it } from "vitest";
import { generateRoles, KIND_MODULES } from "../../src/core/infraRoles.ts";
import { loadPlanFile } from "../../src/core/plan/index.ts";
import { planNeeds, ROLES } from "../../src/core/roles.ts";
import { ROUTES } from "../../src/http/routes.ts";
import { bicepFiles, exists, loadedJson, modules, params, read, ROOT, stripComments } from "./bicepText.ts";

const main = read("infra/main.bicep");

/** The kinds (by generated key) that main.bicep assigns with a module over `planRoles.assignments.<key>`, and the module each uses. */
export function roleModules(mainText: string): Map<string, string> {
  const found = new Map<string, string>();
  for (const m of modules("infra/main.bicep", mainText)) {
    const over = /for \(a, i\) in planRoles\.assignments\.(\w+):/.exec(m.body);
    if (over) found.set(over[1]!, m.path);
  }
  return found;
}

/** The kinds with no module in main.bicep, or whose module is not the one KIND_MODULES names. */
export function missingRoleModules(mainText: string): string[] {
  const found = roleModules(mainText);
  return Object.entries(KIND_MODULES)
    .filter(([, m]) => found.get(m.key) !== join("infra", m.module))
    .map(([kind]) => kind);
}

/** Every plan file the repository holds (examples and fixtures): the kinds of scope they produce. */
async function planKinds(): Promise<Set<string>> {
  const dirs = ["examples", "test/fixtures"];
  const kinds = new Set<string>();
  for (const dir of dirs) {
    for (const name of readdirSync(join(ROOT, dir)).filter((n) => /\.plan\.ya?ml$/.test(n))) {
      try {
        for (const need of planNeeds(await loadPlanFile(join(ROOT, dir, name)))) kinds.add(need.kind);
      } catch {
        // fixtures that are invalid on purpose
      }
    }
  }
  return kinds;
}

describe("the Bicep files", () => {
  it("reference only modules and JSON files that exist", () => {
    for (const file of bicepFiles()) {
      const text = read(file);
      for (const m of modules(file, text)) expect(exists(m.path), `${file}: module ${m.name} '${m.path}'`).toBe(true);
      for (const json of loadedJson(file, text)) expect(exists(json), `${file}: ${json}`).toBe(true);
    }
    expect(modules("infra/main.bicep", main).length).toBeGreaterThan(10);
  });

  it("give every module the params it requires, and no param it lacks", () => {
    for (const file of bicepFiles()) {
      for (const m of modules(file, read(file))) {
        const declared = params(read(m.path));
        const block = /params:\s*\{([\s\S]*?)\n\s*\}\n|params:\s*\{([^\n]*)\}/.exec(m.body);
        const given = new Set([...(block?.[1] ?? block?.[2] ?? "").matchAll(/(?:^|[\s{,])(\w+):/g)].map((x) => x[1]!));
        const required = [...declared].filter(([, p]) => !p.hasDefault).map(([name]) => name);
        expect(required.filter((name) => !given.has(name)), `${file}: module ${m.name}`).toEqual([]);
        expect([...given].filter((name) => !declared.has(name)), `${file}: module ${m.name}`).toEqual([]);
      }
    }
  });

  it("main.parameters.json names only main.bicep's params, and every param without a default", () => {
    const file = JSON.parse(read("infra/main.parameters.json")) as { parameters: Record<string, { value: unknown }> };
    const declared = params(main);
    expect(Object.keys(file.parameters).filter((name) => !declared.has(name))).toEqual([]);
    expect([...declared].filter(([name, p]) => !p.hasDefault && !(name in file.parameters)).map(([name]) => name)).toEqual([]);
    expect(file.parameters.environmentName?.value).toBe("${AZURE_ENV_NAME}");
    expect(file.parameters.location?.value).toBe("${AZURE_LOCATION}");
  });

  it("follow azd's conventions: subscription scope, the resource group, the azd-env-name tag", () => {
    expect(stripComments(main)).toMatch(/^targetScope = 'subscription'/m);
    expect(main).toMatch(/resource rg 'Microsoft.Resources\/resourceGroups@[\d-]+' = \{\s*name: '\$\{abbrs.resourcesResourceGroups\}\$\{environmentName\}'/);
    expect(main).toContain("var tags = { 'azd-env-name': environmentName }");
    const abbrs = JSON.parse(read("infra/abbreviations.json")) as Record<string, string>;
    for (const used of main.matchAll(/abbrs\.(\w+)/g)) expect(abbrs[used[1]!], used[1]).toBeDefined();
  });
});

describe("the role modules", () => {
  it("cover every kind of scope plan roles can emit, each with its module", () => {
    expect(missingRoleModules(main)).toEqual([]);
  });

  it("would be found missing when one is taken out of main.bicep", () => {
    const without = main.replace(/^module frontDoorClassicRoles [\s\S]*?^\}\]\n/m, "");
    expect(without).not.toBe(main);
    expect(missingRoleModules(without)).toEqual(["front-door-classic"]);
  });

  it("cover every kind the repository's plans produce", async () => {
    const kinds = await planKinds();
    expect(kinds.size).toBeGreaterThanOrEqual(6);
    for (const kind of kinds) expect(Object.keys(KIND_MODULES)).toContain(kind);
  });

  it("name the plan's resource as existing, of its type, and the assignment guid(scope, principal, role)", () => {
    for (const [kind, m] of Object.entries(KIND_MODULES)) {
      const text = stripComments(read(join("infra", m.module)));
      if (m.resourceType) {
        expect(text, kind).toMatch(new RegExp(`resource target '${m.resourceType.replace(/\//g, "\\/")}@[\\w-]+' existing = \\{\\s*name: resourceName`));
        expect(text, kind).toMatch(/scope: target\s*\n\s*name: guid\(target\.id, principalId, roleDefinitionGuid\)/);
      } else {
        expect(text, kind).toMatch(/name: guid\(resourceGroup\(\)\.id, principalId, roleDefinitionGuid\)/);
      }
      expect(text, kind).toContain("principalType: 'ServicePrincipal'");
    }
  });

  it("are scoped to each resource's own subscription and resource group, with the custom roles defined first", () => {
    for (const m of modules("infra/main.bicep", main).filter((x) => x.path.startsWith("infra/roles/"))) {
      expect(m.body, m.name).toContain("scope: resourceGroup(a.subscriptionId, a.resourceGroup)");
      expect(m.body, m.name).toContain("dependsOn: [customRoles]");
      expect(m.body, m.name).toContain("empty(a.roleDefinitionId) ? guid(subscription().id, environmentName, a.customRole) : a.roleDefinitionId");
    }
    expect(main).toMatch(/resource customRoles 'Microsoft.Authorization\/roleDefinitions@[\d-]+' = \[for role in planRoles.customRoles: \{\s*name: guid\(subscription\(\).id, environmentName, role.key\)/);
    expect(main).toMatch(/actions: role\.actions\s*\n\s*notActions: \[\]/);
  });

  it("load a committed plan-roles.json that has every kind's list (empty until plans are given)", () => {
    const file = JSON.parse(read("infra/plan-roles.json")) as ReturnType<typeof generateRoles>;
    expect(Object.keys(file.assignments).sort()).toEqual(Object.values(KIND_MODULES).map((m) => m.key).sort());
    expect(main).toContain("var planRoles = loadJsonContent('plan-roles.json')");
  });
});

describe("the Function App", () => {
  const fn = stripComments(read("infra/app/function.bicep"));

  it("runs Node 22 on a Flex Consumption plan, deployed from blob storage with the identity", () => {
    expect(fn).toMatch(/sku: \{\s*tier: 'FlexConsumption'\s*name: 'FC1'\s*\}/);
    expect(fn).toMatch(/runtime: \{\s*name: 'node'\s*version: '22'\s*\}/);
    expect(fn).toMatch(/authentication: \{\s*type: 'UserAssignedIdentity'\s*userAssignedIdentityResourceId: identityId\s*\}/);
    expect(fn).toMatch(/identity: \{\s*type: 'UserAssigned'/);
    const engines = (JSON.parse(read("package.json")) as { engines: { node: string } }).engines.node;
    expect(engines).toBe(">=22");
  });

  it("is the service azure.yaml deploys, from the packaged folder, with the roles hook before provisioning", () => {
    const azure = parseYaml(read("azure.yaml")) as { services: Record<string, { host: string; language: string; dist: string; project: string }>; hooks: { preprovision: { posix: { run: string }; windows: { run: string } } } };
    const [name, service] = Object.entries(azure.services)[0]!;
    expect(fn).toContain(`tags: union(tags, { 'azd-service-name': '${name}' })`);
    expect(service).toMatchObject({ host: "function", language: "js", dist: "build/package", project: "." });
    // azd does not run `npm run package` itself: the service's prepackage hook builds the folder it deploys.
    const hooks = (service as unknown as { hooks?: { prepackage?: { posix?: { run?: string }; windows?: { run?: string } } } }).hooks;
    expect(hooks?.prepackage?.posix?.run).toBe("npm run package");
    expect(hooks?.prepackage?.windows?.run).toBe("npm run package");
    expect((JSON.parse(read("package.json")) as { scripts: Record<string, string> }).scripts["package"]).toBeDefined();
    expect(read("scripts/package.ts")).toContain('join(root, "build/package")');
    for (const script of [azure.hooks.preprovision.posix.run, azure.hooks.preprovision.windows.run]) {
      expect(exists(script)).toBe(true);
      expect(read(script)).toMatch(/switchyard infra roles --plans-dir .* --location .*AZURE_LOCATION.* --out infra\/plan-roles.json/);
    }
  });

  it("turns App Service authentication on with the app registration, leaving Event Grid's webhook to its key", () => {
    expect(fn).toMatch(/name: 'authsettingsV2'/);
    expect(fn).toMatch(/requireAuthentication: true\s*unauthenticatedClientAction: 'Return401'/);
    expect(fn).toContain("excludedPaths: ['/runtime/webhooks/eventgrid']");
    expect(fn).toMatch(/allowedAudiences: \[authIdentifierUri, authClientId\]/);
  });
});

describe("the action group", () => {
  const alerts = stripComments(read("infra/app/alerts.bicep"));

  it("posts to the alert webhook with the common alert schema and the secure webhook, and no function key", () => {
    const route = ROUTES.find((r) => r.handler === "alerts")!;
    expect(route.methods).toContain("POST");
    expect(alerts).toContain(`serviceUri: 'https://\${site.properties.defaultHostName}/api/${route.route}'`);
    expect(alerts).not.toMatch(/listKeys|code=/);
    // The route takes no key exactly when the secure webhook's settings are set, which function.bicep does.
    expect(stripComments(read("src/functions/http.ts"))).toContain('authLevel: anonymous ? "anonymous" : "function"');
    expect(stripComments(read("infra/app/function.bicep"))).toMatch(/SWITCHYARD_ALERT_TENANT_ID: tenant\(\)\.tenantId\s+SWITCHYARD_ALERT_AUDIENCE: authIdentifierUri/);
    expect(alerts).toContain("useCommonAlertSchema: true");
    expect(alerts).toContain("useAadAuth: true");
    expect(alerts).toMatch(/objectId: appObjectId\s*identifierUri: appIdentifierUri\s*tenantId: tenant\(\)\.tenantId/);
  });
});

describe("Switchyard's storage", () => {
  const storage = stripComments(read("infra/core/storage.bicep"));

  it("takes no shared key, and gives the identity the host's, Durable's and Switchyard's own data roles", () => {
    expect(storage).toContain("allowSharedKeyAccess: false");
    expect(storage).toContain("allowBlobPublicAccess: false");
    expect(storage).not.toMatch(/listKeys|AccountKey/);
    // `own` of `switchyard plan roles`: Storage Blob Data Contributor.
    expect(storage).toContain(`blobDataContributor: '${ROLES.storageBlobDataContributor.id}'`);
    for (const role of ["blobDataOwner", "queueDataContributor", "tableDataContributor"]) expect(storage).toMatch(new RegExp(`^\\s*${role}: '[0-9a-f-]{36}'`, "m"));
    expect(storage).toMatch(/for role in items\(roles\): \{\s*scope: account\s*name: guid\(account.id, principalId, role.value\)/);
  });

  it("nowhere in infra/ is a storage key or connection string used", () => {
    for (const file of bicepFiles()) expect(stripComments(read(file)), file).not.toMatch(/AccountKey=|DefaultEndpointsProtocol|listKeys\([^)]*storage/i);
  });
});
