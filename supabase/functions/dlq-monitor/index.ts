// Wiring only: config and clients are built once per instance; see handler.ts.
import { createDb } from "../_shared/db.ts";
import { drainOutbox, sqsBatchSender } from "../_shared/outbox.ts";
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
        leaseSeconds: 50,
        postTimeoutMs: config.slackTimeoutMs,
        now: Date.now,
        sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
        log,
      }),
    redrive: (options) =>
      redriveDeadLetters({
        dlq,
        store,
        dispatch: async (ids) => {
          try {
            await drainOutbox(db, send, { limit: ids.length, onlyIds: ids });
          } catch (error) {
            log(`dlq-monitor: redriven jobs wait for the next dispatch: ${error}`);
          }
        },
        visibilitySeconds: config.redriveVisibilitySeconds,
        budgetMs: config.redriveBudgetMs,
        now: Date.now,
      }, options),
    log,
  })
);
