/**
 * A clock for the app under test that stands still until the test moves it (STYLE.md 14: time under
 * test is a parameter). Give `now` to the app as its clock; read ids and times from the same clock.
 */
export class ManualClock {
  private ms: number;

  constructor(start: Date | number) {
    this.ms = typeof start === "number" ? start : start.getTime();
  }

  /** The current time (a function: pass it as the app's `clock`). */
  readonly now = (): Date => new Date(this.ms);

  /** Moves the clock forward by `ms` and returns the new time. */
  advance(ms: number): Date {
    if (!(ms >= 0)) throw new Error(`a clock moves forward only (advance ${ms} ms)`);
    this.ms += ms;
    return this.now();
  }
}
