/**
 * Where decisions are made: in Postgres (exact, shared by every function instance), one SQL call
 * deciding a whole batch of requests; or, only while the database is unreachable, by a bounded
 * in-memory limiter in this instance (see resilient.ts). A refusal cache in front spares the
 * database the clients it has just refused.
 */
import { type Decision, gcra } from "./gcra.ts";
import type { FailMode } from "./policy.ts";

export type { Decision };

export interface LimitRequest {
  /** SHA-256 of policy and client, hex: the stored key. */
  key: string;
  limit: number;
  periodMs: number;
  failMode: FailMode;
}

/** One request to decide: every policy that applies to it, and what it costs (units). */
export interface Ask {
  requests: LimitRequest[];
  cost: number;
}

export interface CheckOptions {
  /** Units the request takes from every bucket (default 1). */
  cost?: number;
  /** Epoch ms by which the answer is due (see batching.ts); limiters in memory ignore it. */
  deadline?: number;
}

export interface Limiter {
  /** All policies admit the request together or not at all; one decision per policy, in order. */
  check(requests: LimitRequest[], options?: CheckOptions): Promise<Decision[]>;
}

/** Decides many requests at once, in order, each as if it came alone. */
export interface BatchDecider {
  decide(asks: Ask[]): Promise<Decision[][]>;
}

type Row = {
  request: number;
  allowed: boolean;
  remaining: number;
  reset_ms: number;
  retry_after_ms: number;
};

/**
 * What the limiter needs of a database client: node-postgres's Pool (see createDb), which
 * sends an unnamed, parameterized statement in one round trip. postgres.js without prepared
 * statements (needed behind a transaction pooler) takes two for any query with parameters
 * (Parse/Describe, then Bind/Execute), and the decision sits on every request's path.
 */
export interface Queryable {
  query(text: string, values: unknown[]): Promise<{ rows: Row[] }>;
}

const DECIDE = `select request, allowed, remaining, reset_ms, retry_after_ms
  from private.rate_limit($1::int[],
    array(select decode(k, 'hex') from unnest($2::text[]) with ordinality as t(k, o) order by o),
    $3::int[], $4::int[], $5::int[])`;

/** private.rate_limit(): one SQL call for a whole batch of requests. */
export function sqlDecider(db: Queryable): BatchDecider {
  return {
    async decide(asks) {
      const entries = asks.flatMap((ask, i) => ask.requests.map((r) => ({ i, r, cost: ask.cost })));
      const { rows } = await db.query(DECIDE, [
        entries.map((e) => e.i + 1),
        entries.map((e) => e.r.key),
        entries.map((e) => e.r.limit),
        entries.map((e) => e.r.periodMs),
        entries.map((e) => e.cost),
      ]);
      const decisions: Decision[][] = asks.map(() => []);
      for (const row of rows) decisions[row.request - 1]!.push(decision(row));
      return decisions;
    },
  };
}

/** One SQL call per request (no batching): the decider alone, as a Limiter. */
export function sqlLimiter(db: Queryable): Limiter {
  const decider = sqlDecider(db);
  return {
    async check(requests, options = {}) {
      return (await decider.decide([{ requests, cost: options.cost ?? 1 }]))[0]!;
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
 * database for all of R, and asking again would only cost a round trip. A request is refused
 * when any of its policies would refuse it, so one remembered refusal answers it whole; the
 * other policies' headers then show what the database last said of them (they can only have
 * refilled since). Abusive clients are turned away without touching Postgres; the decisions are
 * the same. (A refusal for a cost of c says nothing about a smaller cost: only unit requests are
 * answered from here.)
 */
export function withRefusalCache(
  inner: Limiter,
  maxKeys = 10_000,
  now: () => number = Date.now,
): Limiter {
  /** Per key: refused until (0: not refused), and the last remaining and reset seen. */
  const known = new Map<string, { until: number; remaining: number; resetAt: number }>();
  return {
    async check(requests, options = {}) {
      const t = now();
      const unit = (options.cost ?? 1) === 1;
      const cached = requests.map((r) => known.get(r.key));
      if (unit && cached.some((k) => k && k.until > t)) {
        return cached.map((k) => ({
          allowed: false,
          remaining: k && k.until > t ? 0 : k?.remaining ?? 0,
          resetMs: k ? Math.max(0, k.resetAt - t) : 0,
          retryAfterMs: k && k.until > t ? k.until - t : 0,
        }));
      }
      const decisions = await inner.check(requests, options);
      requests.forEach((r, i) => {
        const d = decisions[i]!;
        known.delete(r.key);
        // Refused until: only a key that is itself out of room (not one refused because another
        // policy was), and only as a unit request sees it.
        const until = !d.allowed && d.retryAfterMs > 0 && unit ? t + d.retryAfterMs : 0;
        known.set(r.key, { until, remaining: d.remaining, resetAt: t + d.resetMs });
      });
      while (known.size > maxKeys) known.delete(known.keys().next().value!);
      return decisions;
    },
  };
}

/** GCRA in this process, holding at most maxKeys buckets (least recently used go first). */
export function memoryLimiter(maxKeys = 10_000, now: () => number = Date.now): Limiter {
  const buckets = new Map<string, number>();
  return {
    check(requests, options = {}) {
      const t = now();
      const cost = options.cost ?? 1;
      const trial = requests.map((r) => gcra(buckets.get(r.key), t, r.limit, r.periodMs, cost));
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
