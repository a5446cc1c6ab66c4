// Wiring only: config and clients are built once per instance; see handler.ts.
import { createJwtVerifier, identify, identifyOnce } from "../_shared/auth.ts";
import { createDb } from "../_shared/db.ts";
import { dispatchSoon, sqsBatchSender } from "../_shared/outbox.ts";
import { withRateLimit } from "../_shared/ratelimit/middleware.ts";
import { createLimiterDb, createRateLimitDeps } from "../_shared/ratelimit/setup.ts";
import { createSqsClient } from "../_shared/sqs.ts";
import { loadConfig } from "./config.ts";
import { handle, type QueueDeps } from "./handler.ts";
import { sqlQueueStore } from "./store.ts";

const config = loadConfig();
const db = createDb(config.dbUrl, { max: 8 });
const store = sqlQueueStore(db);
const verifyJwt = createJwtVerifier(config.jwt);
const sqs = createSqsClient(config.sqs, config.dispatchTimeoutMs);
const send = sqsBatchSender(sqs, config.sqs.queueUrl);
const caller = identifyOnce((req) =>
  identify(req, {
    serviceKeys: config.serviceKeys,
    verifyJwt,
    customerForApiKey: store.customerForApiKey,
  })
);
const deps: QueueDeps = {
  identify: caller,
  store,
  dispatchNow: (outboxId) => dispatchSoon(db, send, [outboxId], (line) => console.error(line)),
  maxBodyBytes: config.maxBodyBytes,
};

const limiterDb = createLimiterDb(config.dbUrl);
const rateLimit = createRateLimitDeps(config.rateLimit, limiterDb, caller);

Deno.serve(withRateLimit((req) => handle(req, deps), rateLimit));
