/**
 * Where decisions are made: in Postgres (exact, shared by every function instance), or, when
 * the database does not answer in time, by a bounded in-memory limiter in this instance, so an
 * outage does not remove all protection. Which one decided is reported with the result.
 */
import type { Sql } from "../db.ts";
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

export function sqlLimiter(sql: Sql): Limiter {
  return {
    async check(requests) {
      const rows = await sql<
        { allowed: boolean; remaining: number; reset_ms: number; retry_after_ms: number }[]
      >`
        select allowed, remaining, reset_ms, retry_after_ms
          from private.rate_limit(
            array(select decode(k, 'hex') from unnest(${requests.map((r) => r.key)}::text[])
                  with ordinality as t(k, o) order by o),
            ${requests.map((r) => r.limit)}::int[],
            ${requests.map((r) => r.periodMs)}::int[])`;
      return rows.map((r) => ({
        allowed: r.allowed,
        remaining: r.remaining,
        resetMs: r.reset_ms,
        retryAfterMs: r.retry_after_ms,
      }));
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
      let timer: ReturnType<typeof setTimeout> | undefined;
      try {
        const decisions = await Promise.race([
          options.primary.check(requests),
          new Promise<never>((_, reject) => {
            timer = setTimeout(
              () => reject(new Error(`no answer within ${options.timeoutMs} ms`)),
              options.timeoutMs,
            );
          }),
        ]);
        return { source: "database", decisions };
      } catch (error) {
        const reason = error instanceof Error ? error.message : String(error);
        if (requests.some((r) => r.failMode === "closed")) {
          log(`rate limit: database unavailable (${reason}); failing closed`);
          return { source: "unavailable" };
        }
        log(`rate limit: database unavailable (${reason}); in-memory fallback`);
        return { source: "memory", decisions: await options.fallback.check(requests) };
      } finally {
        clearTimeout(timer);
      }
    },
  };
}
