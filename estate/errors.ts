/** ARM's error body: `{ "error": { "code", "message", "target"?, "details"? } }`. */
export interface ArmErrorBody {
  error: { code: string; message: string; target?: string; details?: ArmErrorBody["error"][] };
}

/** Thrown by a handler to answer with an error; the dispatcher turns it into the response. */
export class EstateHttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
  body(): ArmErrorBody {
    return { error: { code: this.code, message: this.message } };
  }
}

export const notFound = (type: string, name: string, resourceGroup?: string) =>
  new EstateHttpError(
    404,
    "ResourceNotFound",
    `The Resource '${type}/${name}' under resource group '${resourceGroup ?? "(unknown)"}' was not found. For more details please go to https://aka.ms/ARMResourceNotFoundFix`,
  );

export const badRequest = (code: string, message: string) => new EstateHttpError(400, code, message);
export const conflict = (code: string, message: string) => new EstateHttpError(409, code, message);

/**
 * What Resource Manager answers when a body cannot be read as the resource or parameters it should be
 * (not JSON, an array or a string where an object belongs, a member of the wrong JSON type): 400
 * `InvalidRequestContent`, "The request content was invalid and could not be deserialized: '…'".
 */
export const invalidContent = (detail: string) =>
  new EstateHttpError(400, "InvalidRequestContent", `The request content was invalid and could not be deserialized: '${detail}'.`);
