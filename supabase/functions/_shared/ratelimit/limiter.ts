/**
 * Where decisions are made: in Postgres (exact, shared by every function instance), or, when
 * the database does not answer in time, by a bounded in-memory limiter in this instance, so an
 * outage does not remove all protection. Which one decided is reported with the result.
 */
import { withTimeout } from "../timeout.ts";
import { type Decision, gcra } from "./gcra.ts";
import type { FailMode } from "./policy.ts";

export interface LimitRequest {
  /** SHA-256 of policy and client, hex: the stored key. */
  key: string;
  limit: number;
  periodMs: number;
  failMode: FailMode;
}

export interface Limiter {
  /** All requests are admitted together or not at all; one decision per request, in order. */
  check(requests: LimitRequest[]): Promise<Decision[]>;
}

type Row = { allowed: boolean; remaining: number; reset_ms: number; retry_after_ms: number };

/**
 * What the limiter needs of a database client: node-postgres's Pool (see createDb), which
 * sends an unnamed, parameterized statement in one round trip. postgres.js without prepared
 * statements (needed behind a transaction pooler) takes two for any query with parameters
 * (Parse/Describe, then Bind/Execute), and the decision sits on every request's path.
 */
export interface Queryable {
  query(text: string, values: unknown[]): Promise<{ rows: Row[] }>;
}

const ONE_POLICY = `select allowed, remaining, reset_ms, retry_after_ms
  from private.rate_limit_one(decode($1, 'hex'), $2, $3)`;
const POLICIES = `select allowed, remaining, reset_ms, retry_after_ms
  from private.rate_limit(
    array(select decode(k, 'hex') from unnest($1::text[]) with ordinality as t(k, o) order by o),
    $2::int[], $3::int[])`;

export function sqlLimiter(db: Queryable): Limiter {
  return {
    async check(requests) {
      const { rows } = requests.length === 1
        ? await db.query(ONE_POLICY, [requests[0]!.key, requests[0]!.limit, requests[0]!.periodMs])
        : await db.query(POLICIES, [
          requests.map((r) => r.key),
          requests.map((r) => r.limit),
          requests.map((r) => r.periodMs),
        ]);
      return rows.map(decision);
    },
  };
}

function decision(r: Row): Decision {
  return {
    allowed: r.allowed,
    remaining: r.remaining,
    resetMs: r.reset_ms,
    retryAfterMs: r.retry_after_ms,
  };
}

/**
 * Remembers, in this instance, the keys the database refused and until when: GCRA only moves a
 * bucket's refill time forward, so a key refused with "retry after R" is refused by the
 * database for all of R, and asking again would only cost a round trip. Abusive clients are
 * then turned away without touching Postgres; the decisions are the same.
 */
export function withRefusalCache(
  inner: Limiter,
  maxKeys = 10_000,
  now: () => number = Date.now,
): Limiter {
  const blocked = new Map<string, { until: number; resetAt: number }>();
  return {
    async check(requests) {
      const t = now();
      const cached = requests.map((r) => blocked.get(r.key));
      if (cached.every((b) => b && b.until > t)) {
        return cached.map((b) => ({
          allowed: false,
          remaining: 0,
          resetMs: Math.max(0, b!.resetAt - t),
          retryAfterMs: b!.until - t,
        }));
      }
      const decisions = await inner.check(requests);
      requests.forEach((r, i) => {
        const d = decisions[i]!;
        blocked.delete(r.key);
        // Only a key that is itself out of room (not one refused because another policy was).
        if (!d.allowed && d.retryAfterMs > 0) {
          blocked.set(r.key, { until: t + d.retryAfterMs, resetAt: t + d.resetMs });
        }
      });
      while (blocked.size > maxKeys) blocked.delete(blocked.keys().next().value!);
      return decisions;
    },
  };
}

/** GCRA in this process, holding at most maxKeys buckets (least recently used go first). */
export function memoryLimiter(maxKeys = 10_000, now: () => number = Date.now): Limiter {
  const buckets = new Map<string, number>();
  return {
    check(requests) {
      const t = now();
      const trial = requests.map((r) => gcra(buckets.get(r.key), t, r.limit, r.periodMs));
      const allowed = trial.every((x) => x.decision.allowed);
      if (allowed) {
        requests.forEach((r, i) => {
          buckets.delete(r.key);
          buckets.set(r.key, trial[i]!.tat!);
        });
        while (buckets.size > maxKeys) buckets.delete(buckets.keys().next().value!);
      }
      return Promise.resolve(
        trial.map((x) => allowed ? x.decision : { ...x.decision, allowed: false }),
      );
    },
  };
}

export type Outcome =
  | { source: "database" | "memory"; decisions: Decision[] }
  | { source: "unavailable" };

/**
 * The database decides within timeoutMs; past that (or on error), fail-open policies fall back
 * to memory and a fail-closed one makes the answer "unavailable". Every fallback is logged.
 */
export function resilientLimiter(options: {
  primary: Limiter;
  fallback: Limiter;
  timeoutMs: number;
  log?: (line: string) => void;
}): { check(requests: LimitRequest[]): Promise<Outcome> } {
  const log = options.log ?? ((line) => console.warn(line));
  return {
    async check(requests) {
      try {
        const decisions = await withTimeout(
          options.primary.check(requests),
          options.timeoutMs,
          "decision",
        );
        return { source: "database", decisions };
      } catch (error) {
        const reason = error instanceof Error ? error.message : String(error);
        if (requests.some((r) => r.failMode === "closed")) {
          log(`rate limit: database unavailable (${reason}); failing closed`);
          return { source: "unavailable" };
        }
        log(`rate limit: database unavailable (${reason}); in-memory fallback`);
        return { source: "memory", decisions: await options.fallback.check(requests) };
      }
    },
  };
}
