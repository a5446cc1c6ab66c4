// Wiring only: config and clients are built once per instance; see handler.ts.
import { laneQueueUrls } from "../_shared/lanes.ts";
import { cacheApiKeys, createJwtVerifier, identify, identifyOnce } from "../_shared/auth.ts";
import { createDb } from "../_shared/db.ts";
import { intervalLog } from "../_shared/log.ts";
import { sqsBatchSender } from "../_shared/outbox.ts";
import { afterAnswerSender } from "../_shared/outbox_after_answer.ts";
import { withRateLimit } from "../_shared/ratelimit/middleware.ts";
import { createLimiterDb, createRateLimitDeps } from "../_shared/ratelimit/setup.ts";
import { afterAnswer } from "../_shared/runtime.ts";
import { createSqsClient } from "../_shared/sqs.ts";
import { loadConfig } from "./config.ts";
import { handle, type QueueDeps } from "./handler.ts";
import { sqlQueueStore } from "./store.ts";

const config = loadConfig();
const db = createDb(config.dbUrl, { max: 8 });
const store = sqlQueueStore(db, config.reserveSeconds);
const verifyJwt = createJwtVerifier(config.jwt);
const sqs = createSqsClient(config.sqs, config.dispatchTimeoutMs);
const sender = afterAnswerSender(
  db,
  sqsBatchSender(sqs, laneQueueUrls(config.sqs.queueUrl)),
  config.sendWindowMs,
  intervalLog((line) => console.error(line)),
);
const customerForApiKey = cacheApiKeys(store.customerForApiKey, config.apiKeyCacheMs);
const caller = identifyOnce((req) =>
  identify(req, { serviceKeys: config.serviceKeys, verifyJwt, customerForApiKey })
);
const limiterDb = createLimiterDb(config.dbUrl);
const rateLimit = createRateLimitDeps(config.rateLimit, limiterDb, caller);

const deps: QueueDeps = {
  identify: caller,
  store,
  sendAfterAnswer: (rows) => afterAnswer(sender.send(rows)),
  limits: config.limits,
  jobsPolicy: config.jobsPolicy,
  refusals: rateLimit.refusals,
};

Deno.serve(withRateLimit((req) => handle(req, deps), rateLimit));
