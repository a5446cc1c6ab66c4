// Wiring only: config and clients are built once per instance; see handler.ts.
import { createJwtVerifier, identify, identifyOnce } from "../_shared/auth.ts";
import { createDb } from "../_shared/db.ts";
import { drainOutbox, sqsBatchSender } from "../_shared/outbox.ts";
import { withRateLimit } from "../_shared/ratelimit/middleware.ts";
import { createRateLimitDeps } from "../_shared/ratelimit/setup.ts";
import { createSqsClient } from "../_shared/sqs.ts";
import { loadConfig } from "./config.ts";
import { handle } from "./handler.ts";
import { sqlQueueStore } from "./store.ts";

const config = loadConfig();
const db = createDb(config.dbUrl, { max: 8 });
const store = sqlQueueStore(db);
const verifyJwt = createJwtVerifier(config.jwt);
const send = sqsBatchSender(
  createSqsClient(config.sqs, config.dispatchTimeoutMs),
  config.sqs.queueUrl,
);
const caller = identifyOnce((req) =>
  identify(req, {
    serviceKeys: config.serviceKeys,
    verifyJwt,
    customerForApiKey: store.customerForApiKey,
  })
);

Deno.serve(withRateLimit(
  (req) =>
    handle(req, {
      identify: caller,
      store,
      dispatchNow: async (outboxId) => {
        try {
          await drainOutbox(db, send, { limit: 1, onlyIds: [outboxId] });
        } catch (error) {
          console.error(`queue: dispatch of outbox row ${outboxId} deferred: ${error}`);
        }
      },
      maxBodyBytes: config.maxBodyBytes,
    }),
  createRateLimitDeps(config.rateLimit, db, caller),
));
