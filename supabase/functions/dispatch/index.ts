// Wiring only: config, database and SQS clients are built once per instance; see handler.ts.
import { laneQueueUrls } from "../_shared/lanes.ts";
import { createSqsClient } from "../_shared/sqs.ts";
import { createDb } from "../_shared/db.ts";
import { drainOutbox, sqsBatchSender } from "../_shared/outbox.ts";
import { loadConfig } from "./config.ts";
import { handle } from "./handler.ts";

const config = loadConfig();
const db = createDb(config.dbUrl, { max: 3 });
const send = sqsBatchSender(createSqsClient(config.sqs), laneQueueUrls(config.sqs.queueUrl));

Deno.serve((req) =>
  handle(req, {
    serviceKeys: config.serviceKeys,
    drainOnce: () => drainOutbox(db, send, { limit: config.batchRows }),
    budgetMs: config.budgetMs,
    now: Date.now,
  })
);
