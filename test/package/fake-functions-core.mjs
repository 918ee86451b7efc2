// Preloaded (node --import) by the package tests: stands in for the Functions Node.js worker, which
// answers `require("@azure/functions-core")` from its hook on Node's CommonJS loader
// (azure-functions-nodejs-worker, src/setupCoreModule.ts). Every registration the app makes through
// @azure/functions is written to stdout, one JSON line, when the process exits.
import Module from "node:module";

const registered = [];
const disposable = { dispose() {} };
const core = {
  version: "4.0.0-package-test",
  hostVersion: "4.0.0-package-test",
  registerFunction(metadata) {
    registered.push(metadata);
    return disposable;
  },
  setProgrammingModel() {},
  getProgrammingModel() {
    return undefined;
  },
  registerHook() {
    return disposable;
  },
  log() {},
  Disposable: class {
    dispose() {}
  },
};
const original = Module.prototype.require;
Module.prototype.require = function (id, ...rest) {
  return id === "@azure/functions-core" ? core : original.call(this, id, ...rest);
};
process.on("exit", () => {
  process.stdout.write(`\nREGISTERED ${JSON.stringify(registered)}\n`);
});
