// Wiring only: config and clients are built once per instance; see handler.ts.
import { createJwtVerifier } from "../_shared/auth.ts";
import { createDb } from "../_shared/db.ts";
import { withRateLimit } from "../_shared/ratelimit/middleware.ts";
import { createLimiterDb, createRateLimitDeps } from "../_shared/ratelimit/setup.ts";
import { afterAnswer } from "../_shared/runtime.ts";
import { createSqsClient } from "../_shared/sqs.ts";
import { sqsQueueDepths } from "../health/store.ts";
import { identifyConsoleCaller, rateLimitCaller } from "./access.ts";
import { loadConfig } from "./config.ts";
import { type ConsoleDeps, handle, withConsoleHeaders } from "./handler.ts";
import { serviceCalls } from "./service_calls.ts";
import { sqlConsoleStore } from "./store.ts";

const config = loadConfig();
const db = createDb(config.dbUrl, { max: 4, queryTimeoutMs: config.queryTimeoutMs });
const verifyJwt = createJwtVerifier(config.jwt);
const identify = rateLimitCaller((req) =>
  identifyConsoleCaller(req, { serviceKeys: config.serviceKeys, verifyJwt })
);
const calls = serviceCalls(config.projectUrl, config.serviceKeys[0]!);
const deps: ConsoleDeps = {
  identify: identify.console,
  store: sqlConsoleStore(db),
  health: calls.health,
  queueDepths: sqsQueueDepths(createSqsClient(config.sqs, 1_500), config.sqs),
  redrive: calls.redrive,
  background: afterAnswer,
  metricsToken: config.metricsToken,
  batchSize: config.batchSize,
  operationBudgetMs: 60_000,
  now: Date.now,
  log: (line) => console.error(line),
};

const rateLimit = createRateLimitDeps(
  config.rateLimit,
  createLimiterDb(config.dbUrl),
  identify.rateLimit,
);

Deno.serve(
  withConsoleHeaders(withRateLimit((req) => handle(req, deps), rateLimit), config.allowedOrigins),
);
