/** What an Azure SDK failure becomes: the operation, the status and code, and never a body it could not parse. */
import { RestError } from "@azure/core-rest-pipeline";
import { describe, expect, it } from "vitest";
import { normaliseAzureError } from "../../src/activities/azureErrors.ts";

const KEY = "Q2hvb3NlIGEga2V5IHRoYXQgbG9va3MgbGlrZSBhIHN0b3JhZ2UgYWNjb3VudCBrZXkgb2Ygc2l4dHkgZm91ciBieXRlcyBsb25nIQ==";

describe("normaliseAzureError", () => {
  it("keeps Azure's message for an error answer", () => {
    const error = new RestError("The storage account is being failed over.", { statusCode: 409, code: "FailoverInProgress" });
    expect(normaliseAzureError(error, "StorageAccounts_Update", "/sub/acct").message).toBe("StorageAccounts_Update on /sub/acct failed: 409 FailoverInProgress: The storage account is being failed over.");
  });

  it("drops the message of a 2xx answer whose body did not parse (core-client quotes the body in it)", () => {
    const parse = new RestError(`Error "Unexpected end of JSON input" occurred while parsing the response body - {"keys":[{"keyName":"key1","value":"${KEY}`, { statusCode: 200, code: RestError.PARSE_ERROR });
    const syntax = new SyntaxError(`Unexpected token 'x', "{"value":"${KEY}"x" is not valid JSON`);
    for (const error of [parse, syntax]) {
      const message = normaliseAzureError(error, "StorageAccounts_ListKeys", "/sub/acct").message;
      expect(message).toContain("the answer could not be read");
      expect(message).not.toContain(KEY.slice(0, 12));
    }
  });

  it("keeps Azure's reason when an operation ended Failed in a 200 answer (its reason is not the body)", () => {
    const failed = Object.assign(new Error("The failover of the group was canceled by the service."), { statusCode: 200, code: "OperationCanceled" });
    expect(normaliseAzureError(failed, "FailoverGroups_Failover", "/sub/fog").message).toContain("The failover of the group was canceled by the service.");
  });
});
