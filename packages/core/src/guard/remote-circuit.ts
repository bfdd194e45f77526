/**
 * The remote guard's circuit: after a check times out or cannot connect, the gateway is taken to
 * be away, and every check is denied at once with the same reason instead of waiting out another
 * timeout. After `retryMs` one check goes through as a probe (the others are still denied at
 * once); its success closes the circuit, its failure opens it for another `retryMs`.
 */
export interface Circuit {
  /** The reason to deny with now, or undefined when this call may go to the gateway. */
  refusal(): string | undefined;
  /** The gateway answered. */
  succeeded(): void;
  /** The gateway could not be reached or did not answer in time: deny with `reason` for a while. */
  failed(reason: string): void;
}

export function createCircuit(retryMs: number, now: () => number = Date.now): Circuit {
  let openUntil = 0;
  let reason: string | undefined;
  let probing = false;
  return {
    refusal() {
      if (reason === undefined) return undefined;
      if (probing || now() < openUntil) return reason;
      probing = true; // this call is the probe
      return undefined;
    },
    succeeded() {
      reason = undefined;
      probing = false;
    },
    failed(why) {
      reason = why;
      probing = false;
      openUntil = now() + retryMs;
    },
  };
}
