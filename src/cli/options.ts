import { InvalidArgumentError } from "commander";

export interface NumberRange {
  readonly min: number;
  readonly max: number;
  /** Only whole numbers (ports, counts). */
  readonly integer?: boolean;
  /** What the number counts, for the message: "seconds". */
  readonly unit?: string;
}

/** Plain decimal notation only: no exponent, hex, sign games or empty text (Number("") is 0). */
const DECIMAL = /^\d+(\.\d+)?$/;
const WHOLE = /^\d+$/;

/**
 * A commander argument parser for a number option: rejects anything that is not a plain number within
 * [min, max]. Commander names the option and the value given before the message, which states the range:
 * `error: option '--port <n>' argument '70000' is invalid. It must be a whole number from 0 to 65535.`
 */
export function numberOption(range: NumberRange): (value: string) => number {
  return (value: string) => {
    const text = value.trim();
    const n = Number(text);
    if (!(range.integer ? WHOLE : DECIMAL).test(text) || !Number.isFinite(n) || n < range.min || n > range.max) {
      const kind = range.integer ? "a whole number" : "a number";
      throw new InvalidArgumentError(`It must be ${kind}${range.unit ? ` of ${range.unit}` : ""} from ${range.min} to ${range.max}.`);
    }
    return n;
  };
}

/** A TCP port: 0 asks the system for a free one. */
export const portOption = () => numberOption({ min: 0, max: 65535, integer: true });
