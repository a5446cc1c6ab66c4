/**
 * The monitor's deps, from its config and the clients index.ts builds once per instance: what
 * each route of handler.ts does, composed from check.ts, delivery.ts and redrive.ts.
 */
import { laneQueueUrls } from "../_shared/lanes.ts";
import type { SQSClient } from "@aws-sdk/client-sqs";
import type { Db } from "../_shared/db.ts";
import { dispatchSoon, sqsBatchSender } from "../_shared/outbox.ts";
import { checkDeadLetters } from "./check.ts";
import type { DlqMonitorConfig } from "./config.ts";
import { deliverAlerts } from "./delivery.ts";
import { sqsDeadLetterQueue } from "./dlq.ts";
import type { DlqMonitorDeps } from "./handler.ts";
import { redriveDeadLetters } from "./redrive.ts";
import type { PostToSlack } from "./slack.ts";
import { sqlMonitorStore } from "./store.ts";

export function depsFromConfig(
  config: DlqMonitorConfig,
  clients: { db: Db; sqs: SQSClient; post: PostToSlack },
  log: (line: string) => void = (line) => console.warn(line),
): DlqMonitorDeps {
  const { db, sqs, post } = clients;
  const store = sqlMonitorStore(db);
  const dlq = sqsDeadLetterQueue(sqs, config.sqs.dlqUrl);
  const send = sqsBatchSender(sqs, laneQueueUrls(config.sqs.queueUrl));
  return {
    serviceKeys: config.serviceKeys,
    check: () =>
      checkDeadLetters({
        dlq,
        store,
        region: config.sqs.region,
        walkBudgetMs: config.walkBudgetMs,
        now: Date.now,
      }),
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
  };
}
