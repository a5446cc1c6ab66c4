/**
 * Overload is not an outage. The database decides; the in-memory fallback (fail-open policies)
 * or a 503 (fail-closed) takes over only while the database is unreachable: connection refused,
 * reset or terminated, authentication failed, or the circuit breaker opened by such failures.
 * A decision that could not be had in time for any other reason (this instance overloaded, the
 * database slow but answering) is shed: the request is answered 503 and never admitted, so a
 * burst can never buy a second, separate limit from the fallback. Each instance's fallback does
 * admit up to the limit during a real outage: the price of staying up without the database.
 * Fallbacks and sheds are logged once per interval, with a count.
 */
import { intervalLog } from "../log.ts";
import { isUnreachable } from "../errors.ts";
import { type CallOutcome, Shed, Unanswered } from "./batching.ts";
import { type Breaker, circuitBreaker } from "./breaker.ts";
import type { Decision, Limiter, LimitRequest } from "./limiter.ts";

export type Outcome =
  | { source: "database" | "memory"; decisions: Decision[] }
  /** The database is unreachable and a policy is fail-closed. */
  | { source: "unavailable" }
  /** No decision in time, the database reachable: refuse without deciding. */
  | { source: "shed" };

export interface ResilientLimiter {
  check(requests: LimitRequest[], cost?: number): Promise<Outcome>;
}

/**
 * What the breaker learns from each SQL call (the batching limiter's onCall): an answer closes
 * it; an unreachable database counts against it, and so does an idle call left unanswered (which
 * alone never opens it); any other error came from a database that answered: it is reachable.
 */
export function feedBreaker(breaker: Breaker): (outcome: CallOutcome, error?: unknown) => void {
  return (outcome, error) => {
    if (outcome === "unanswered") breaker.failure(false);
    else if (outcome === "failed" && isUnreachable(error)) breaker.failure(true);
    else breaker.success();
  };
}

export function resilientLimiter(options: {
  /** Settles by the deadline it is given (see batching.ts). */
  primary: Limiter;
  fallback: Limiter;
  timeoutMs: number;
  breaker?: Breaker;
  log?: (line: string) => void;
  now?: () => number;
}): ResilientLimiter {
  const now = options.now ?? Date.now;
  const breaker = options.breaker ?? circuitBreaker({ now });
  const note = intervalLog(options.log ?? ((line) => console.warn(line)), 10_000, now);

  const withoutDatabase = async (
    requests: LimitRequest[],
    cost: number,
    why: string,
  ): Promise<Outcome> => {
    if (requests.some((r) => r.failMode === "closed")) {
      note("closed", `rate limit: database unreachable (${why}); failing closed`);
      return { source: "unavailable" };
    }
    note("fallback", `rate limit: database unreachable (${why}); in-memory fallback`);
    return { source: "memory", decisions: await options.fallback.check(requests, { cost }) };
  };

  return {
    async check(requests, cost = 1) {
      const gate = breaker.gate();
      if (gate === "open") return await withoutDatabase(requests, cost, "circuit open");
      try {
        const decisions = await options.primary.check(requests, {
          cost,
          deadline: now() + options.timeoutMs,
        });
        return { source: "database", decisions };
      } catch (error) {
        const reason = error instanceof Error ? error.message : String(error);
        if (isUnreachable(error)) return await withoutDatabase(requests, cost, reason);
        if (error instanceof Shed || error instanceof Unanswered) {
          // Let go because the breaker opened while it waited: the database is gone.
          if (breaker.isOpen()) return await withoutDatabase(requests, cost, reason);
          note("shed", `rate limit: decision shed (${reason}); answered 503`);
          return { source: "shed" };
        }
        note("error", `rate limit: the database could not decide (${reason}); answered 503`);
        return { source: "shed" };
      } finally {
        // A probe that reached the database has closed or reopened the breaker by now (see
        // feedBreaker). One that did not (answered from the refusal cache, shed, or sent behind
        // a backlog) told it nothing: let the next decision probe instead.
        if (gate === "probe") breaker.abandon();
      }
    },
  };
}
