/**
 * A circuit breaker for the database's decisions. Closed: every decision goes to the database.
 * `threshold` failures in a row (unreachable, or an idle call left unanswered) open it: for
 * `cooldownMs` no decision is sent. Then it is half-open: one decision goes as a probe; an answer
 * closes the breaker, a failure opens it again for another cooldown.
 */

export type Gate = "closed" | "probe" | "open";

export interface Breaker {
  /** May this decision go to the database: yes, yes as the probe, or no. */
  gate(): Gate;
  success(): void;
  failure(): void;
  /** The probe ended; if it told nothing either way (it never reached the database), another may try. */
  abandon(): void;
  isOpen(): boolean;
}

export function circuitBreaker(
  options: { threshold?: number; cooldownMs?: number; now?: () => number } = {},
): Breaker {
  const threshold = options.threshold ?? 2;
  const cooldownMs = options.cooldownMs ?? 1_000;
  const now = options.now ?? Date.now;
  let failures = 0;
  let openUntil: number | undefined;
  let probing = false;

  return {
    gate() {
      if (openUntil === undefined) return "closed";
      if (probing || now() < openUntil) return "open";
      probing = true;
      return "probe";
    },
    success() {
      failures = 0;
      openUntil = undefined;
      probing = false;
    },
    failure() {
      failures++;
      if (probing || failures >= threshold) {
        openUntil = now() + cooldownMs;
        probing = false;
      }
    },
    abandon() {
      probing = false;
    },
    isOpen() {
      return openUntil !== undefined;
    },
  };
}
