/** Builds a function's rate limiter from its env vars (see policy.ts and client.ts). */
import type { Caller } from "../auth.ts";
import { type Env, intEnv } from "../config.ts";
import { clientIpSourceFromEnv } from "./client.ts";
import {
  memoryLimiter,
  type Queryable,
  resilientLimiter,
  sqlLimiter,
  withRefusalCache,
} from "./limiter.ts";
import type { RateLimitDeps } from "./middleware.ts";
import { policiesFromEnv } from "./policy.ts";

export function rateLimitFromEnv(
  env: Env,
  fn: string,
  db: Queryable,
  identify?: (req: Request) => Promise<Caller>,
): RateLimitDeps {
  return {
    fn,
    config: policiesFromEnv(env, fn),
    clientIp: clientIpSourceFromEnv(env, fn),
    limiter: resilientLimiter({
      primary: withRefusalCache(sqlLimiter(db)),
      fallback: memoryLimiter(intEnv(env, fn, "RATE_LIMIT_MEMORY_KEYS", 10_000)),
      timeoutMs: intEnv(env, fn, "RATE_LIMIT_TIMEOUT_MS", 300),
    }),
    identify,
  };
}
