import type { Operations } from "./lro.ts";
import type { EstateState } from "./state.ts";

/** What a route handler gets besides the request. */
export interface EstateContext {
  readonly state: EstateState;
  readonly operations: Operations;
  /** The estate's clock (ms since epoch). Handlers read it once per request. */
  readonly now: number;
}
