/**
 * A circuit breaker for the database's decisions. Closed: every decision goes to the database.
 * `threshold` failures in a row open it, if at least one of them was the database being
 * unreachable (an error, or a timeout of the pool): a call merely unanswered by its deadline
 * counts, but a busy database answers late, and overload must never open the breaker by itself.
 * Open: for `cooldownMs` no decision is sent. Then it is half-open: one decision goes as a probe;
 * an answer closes the breaker, a failure opens it again for another cooldown.
 */

export type Gate = "closed" | "probe" | "open";

export interface Breaker {
  /** May this decision go to the database: yes, yes as the probe, or no. */
  gate(): Gate;
  success(): void;
  /** `unreachable`: an error said so; false: only no answer by the deadline. */
  failure(unreachable?: boolean): void;
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
  let unreachableSeen = false;
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
      unreachableSeen = false;
      openUntil = undefined;
      probing = false;
    },
    failure(unreachable = true) {
      failures++;
      unreachableSeen ||= unreachable;
      if (probing || (failures >= threshold && unreachableSeen)) {
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
