// Wiring only: config and clients are built once per instance; see handler.ts.
import { identifyServiceOnly } from "../_shared/auth.ts";
import { createDb } from "../_shared/db.ts";
import { withRateLimit } from "../_shared/ratelimit/middleware.ts";
import { createLimiterDb, createRateLimitDeps } from "../_shared/ratelimit/setup.ts";
import { createSqsClient } from "../_shared/sqs.ts";
import { loadConfig } from "./config.ts";
import { handle, type HealthDeps } from "./handler.ts";
import { sqlHealthStore, sqsQueueDepths } from "./store.ts";

const config = loadConfig();
const db = createDb(config.dbUrl, { max: 3 });
const deps: HealthDeps = {
  snapshot: sqlHealthStore(db).snapshot,
  queueDepths: sqsQueueDepths(createSqsClient(config.sqs, config.sqsTimeoutMs), config.sqs),
  dbTimeoutMs: config.dbTimeoutMs,
  sqsTimeoutMs: config.sqsTimeoutMs,
  now: Date.now,
  startedAt: Date.now(),
};

const limiterDb = createLimiterDb(config.dbUrl);
const rateLimit = createRateLimitDeps(
  config.rateLimit,
  limiterDb,
  identifyServiceOnly(config.serviceKeys),
);

Deno.serve(withRateLimit((req) => handle(req, deps), rateLimit));
