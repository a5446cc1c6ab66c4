/**
 * A function's rate-limit settings, parsed once from its env vars (see policy.ts and client.ts),
 * and the middleware's deps built from them.
 *
 *   RATE_LIMIT_TIMEOUT_MS=300       how long the database may take to decide (then: fallback)
 *   RATE_LIMIT_MEMORY_KEYS=10000    buckets the in-memory fallback keeps at most
 */
import type { Caller } from "../auth.ts";
import { type Env, intEnv } from "../config.ts";
import { type ClientIpSource, clientIpSourceFromEnv } from "./client.ts";
import {
  memoryLimiter,
  type Queryable,
  resilientLimiter,
  sqlLimiter,
  withRefusalCache,
} from "./limiter.ts";
import type { RateLimitDeps } from "./middleware.ts";
import { type Policies, policiesFromEnv } from "./policy.ts";

export interface RateLimitConfig extends Policies {
  /** The function's name: part of every stored key, and of RATE_LIMIT_<FUNCTION>. */
  fn: string;
  clientIp: ClientIpSource;
  memoryKeys: number;
  timeoutMs: number;
}

export function rateLimitConfigFromEnv(env: Env, fn: string): RateLimitConfig {
  return {
    fn,
    ...policiesFromEnv(env, fn),
    clientIp: clientIpSourceFromEnv(env, fn),
    memoryKeys: intEnv(env, fn, "RATE_LIMIT_MEMORY_KEYS", 10_000),
    timeoutMs: intEnv(env, fn, "RATE_LIMIT_TIMEOUT_MS", 300),
  };
}

export function createRateLimitDeps(
  config: RateLimitConfig,
  db: Queryable,
  identify?: (req: Request) => Promise<Caller>,
): RateLimitDeps {
  return {
    fn: config.fn,
    config: { policies: config.policies, service: config.service },
    clientIp: config.clientIp,
    limiter: resilientLimiter({
      primary: withRefusalCache(sqlLimiter(db)),
      fallback: memoryLimiter(config.memoryKeys),
      timeoutMs: config.timeoutMs,
    }),
    identify,
  };
}
