import type { Operations } from "./lro.ts";
import type { EffectName } from "./profile.ts";
import type { EstateState } from "./state.ts";

/** What a route handler gets besides the request. */
export interface EstateContext {
  readonly state: EstateState;
  readonly operations: Operations;
  /** The estate's clock (ms since epoch). Handlers read it once per request. */
  readonly now: number;
  /** How long an after-effect of a write lasts (ms), from the Azure time profile at the estate's scale; 0 without one. */
  readonly effectMs: (effect: EffectName) => number;
}
