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
import type { Identity, RateLimitDeps } from "./middleware.ts";
import { policiesFromEnv } from "./policy.ts";

/** What the rate limiter needs to know about a caller the function has identified. */
export function identityOf(caller: Caller): Identity {
  switch (caller.kind) {
    case "service":
      return { kind: "service" };
    case "customer":
      return caller.via === "api_key"
        ? { kind: "subject", subject: caller.subject, apiKey: caller.subject.slice(4) }
        : { kind: "subject", subject: caller.subject };
    case "user":
      return { kind: "subject", subject: caller.subject };
    default:
      // No or rejected credentials: the client address decides.
      return { kind: "anonymous" };
  }
}

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
    identify: identify ? async (req) => identityOf(await identify(req)) : undefined,
  };
}
