// Wiring only: config and clients are built once per instance; see handler.ts.
import { createDb } from "../_shared/db.ts";
import { dispatchSoon, sqsBatchSender } from "../_shared/outbox.ts";
import { createSqsClient } from "../_shared/sqs.ts";
import { checkDeadLetters } from "./check.ts";
import { loadConfig } from "./config.ts";
import { deliverAlerts } from "./delivery.ts";
import { sqsDeadLetterQueue } from "./dlq.ts";
import { handle } from "./handler.ts";
import { redriveDeadLetters } from "./redrive.ts";
import { slackWebhook } from "./slack.ts";
import { sqlMonitorStore } from "./store.ts";

const config = loadConfig();
const db = createDb(config.dbUrl, { max: 3 });
const sqs = createSqsClient(config.sqs);
const store = sqlMonitorStore(db);
const dlq = sqsDeadLetterQueue(sqs, config.sqs.dlqUrl);
const send = sqsBatchSender(sqs, config.sqs.queueUrl);
const post = slackWebhook(config.slackWebhookUrl, config.slackTimeoutMs);
const log = (line: string) => console.warn(line);

Deno.serve((req) =>
  handle(req, {
    serviceKeys: config.serviceKeys,
    check: () => checkDeadLetters({ dlq, store, region: config.sqs.region }),
    deliver: () =>
      deliverAlerts({
        store,
        post,
        maxAlerts: config.alertsPerRun,
        postTimeoutMs: config.slackTimeoutMs,
        now: Date.now,
        log,
      }),
    redrive: (options) =>
      redriveDeadLetters({
        dlq,
        store,
        dispatch: (ids) => dispatchSoon(db, send, ids, log),
        visibilitySeconds: config.redriveVisibilitySeconds,
        budgetMs: config.redriveBudgetMs,
        now: Date.now,
      }, options),
    log,
  })
);
