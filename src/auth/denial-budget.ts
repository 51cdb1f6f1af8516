/**
 * How many refusals of callers with no valid token this instance writes to the audit log per window.
 * The log is append-only and never pruned by the service, so without a bound anyone on the network
 * could grow it (and its Merkle tree) at will and bury real events. Refusals over the budget are
 * counted, logged once per window, and the count rides on the first refusal written in a later window.
 * A caller with a valid token is accountable: its refusals (a missing scope) are always written.
 */
export class AnonymousDenialBudget {
  #windowStart = Number.NEGATIVE_INFINITY;
  #written = 0;
  #suppressed = 0;

  constructor(
    readonly perWindow = 100,
    readonly windowMs = 60_000,
  ) {}

  /**
   * Whether this refusal is written; when it is, how many were not written since the last one that
   * was (to record with it), and whether suppression just began (to log it once).
   */
  take(now = Date.now()): { write: boolean; suppressedBefore: number; suppressionBegins: boolean } {
    if (now - this.#windowStart >= this.windowMs) {
      const suppressedBefore = this.#suppressed;
      this.#windowStart = now;
      this.#written = 1;
      this.#suppressed = 0;
      return { write: true, suppressedBefore, suppressionBegins: false };
    }
    if (this.#written < this.perWindow) {
      this.#written += 1;
      return { write: true, suppressedBefore: 0, suppressionBegins: false };
    }
    this.#suppressed += 1;
    return { write: false, suppressedBefore: 0, suppressionBegins: this.#suppressed === 1 };
  }
}
