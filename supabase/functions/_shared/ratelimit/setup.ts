/**
 * A function's rate-limit settings, parsed once from its env vars (see policy.ts and client.ts),
 * and the middleware's deps built from them: refusal cache → batched database decisions (on a
 * pool of their own) → circuit breaker and in-memory fallback (see resilient.ts).
 *
 *   RATE_LIMIT_TIMEOUT_MS=1000      how long a decision may wait in the instance; then shed (503)
 *   RATE_LIMIT_MEMORY_KEYS=10000    buckets the in-memory fallback keeps at most
 *   RATE_LIMIT_REFUSALS_FLUSH_MS=5000  how often an instance writes the refusals it counted
 */
import type { Caller } from "../auth.ts";
import { createDb, type Db } from "../db.ts";
import { type Env, intEnv } from "../config.ts";
import { type ClientIpSource, clientIpSourceFromEnv } from "./client.ts";
import { batchingLimiter } from "./batching.ts";
import { type Breaker, circuitBreaker } from "./breaker.ts";
import {
  type Limiter,
  memoryLimiter,
  type Queryable,
  sqlDecider,
  withRefusalCache,
} from "./limiter.ts";
import { feedBreaker, resilientLimiter } from "./resilient.ts";
import type { RateLimitDeps } from "./middleware.ts";
import { refusalLog } from "./refusals.ts";
import { afterAnswer } from "../runtime.ts";
import { type Policies, policiesFromEnv } from "./policy.ts";

export interface RateLimitConfig extends Policies {
  /** The function's name: part of every stored key, and of RATE_LIMIT_<FUNCTION>. */
  fn: string;
  clientIp: ClientIpSource;
  memoryKeys: number;
  timeoutMs: number;
  refusalsFlushMs: number;
}

export function rateLimitConfigFromEnv(env: Env, fn: string): RateLimitConfig {
  return {
    fn,
    ...policiesFromEnv(env, fn),
    clientIp: clientIpSourceFromEnv(env, fn),
    memoryKeys: intEnv(env, fn, "RATE_LIMIT_MEMORY_KEYS", 10_000),
    timeoutMs: intEnv(env, fn, "RATE_LIMIT_TIMEOUT_MS", 1_000),
    refusalsFlushMs: intEnv(env, fn, "RATE_LIMIT_REFUSALS_FLUSH_MS", 5_000),
  };
}

/**
 * Connections the limiter holds, apart from the function's own pool: its SQL calls never wait
 * behind the function's queries, and two calls in flight, each deciding a whole batch, keep up
 * with thousands of decisions a second.
 */
export const LIMITER_CONNECTIONS = 2;
/**
 * A statement of the limiter's that runs this long is given up (see createDb): a call stuck on a
 * dead connection frees its slot and counts against the breaker, instead of holding the slot
 * until TCP gives up.
 */
const LIMITER_QUERY_TIMEOUT_MS = 2_000;

/** The limiter's own pool. */
export function createLimiterDb(url: string): Db {
  return createDb(url, { max: LIMITER_CONNECTIONS, queryTimeoutMs: LIMITER_QUERY_TIMEOUT_MS });
}

/** Decisions one SQL call takes at most, and how many may wait in an instance. */
const MAX_BATCH = 500;
const MAX_QUEUED = 5_000;

/**
 * The database's side as the functions ship it: refusals remembered in the instance, then
 * decisions batched over LIMITER_CONNECTIONS calls in flight (the benchmarks measure this).
 */
export function databaseLimiter(db: Queryable, breaker?: Breaker): Limiter {
  return withRefusalCache(batchingLimiter(sqlDecider(db), {
    maxInFlight: LIMITER_CONNECTIONS,
    maxBatch: MAX_BATCH,
    maxQueued: MAX_QUEUED,
    onCall: breaker && feedBreaker(breaker),
    giveUp: breaker && (() => breaker.isOpen()),
  }));
}

export function createRateLimitDeps(
  config: RateLimitConfig,
  /** The limiter's own pool (createLimiterDb). */
  db: Queryable,
  identify?: (req: Request) => Promise<Caller>,
): RateLimitDeps {
  const breaker = circuitBreaker();
  return {
    fn: config.fn,
    config: { policies: config.policies, service: config.service },
    clientIp: config.clientIp,
    limiter: resilientLimiter({
      primary: databaseLimiter(db, breaker),
      fallback: memoryLimiter(config.memoryKeys),
      timeoutMs: config.timeoutMs,
      breaker,
    }),
    identify,
    refusals: refusalLog({
      fn: config.fn,
      write: async (rows) => {
        await db.query("select private.record_refusals($1::jsonb)", [JSON.stringify(rows)]);
      },
      keepAlive: afterAnswer,
      flushMs: config.refusalsFlushMs,
      maxClients: 10_000,
      now: Date.now,
      log: (line) => console.error(line),
    }),
  };
}
