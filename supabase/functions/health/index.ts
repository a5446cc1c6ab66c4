// Wiring only: config and clients are built once per instance; see handler.ts.
import { GetQueueAttributesCommand } from "@aws-sdk/client-sqs";
import { createDb, query } from "../_shared/db.ts";
import { withRateLimit } from "../_shared/ratelimit/middleware.ts";
import { rateLimitFromEnv } from "../_shared/ratelimit/setup.ts";
import { createSqsClient } from "../_shared/sqs.ts";
import { loadConfig } from "./config.ts";
import { handle } from "./handler.ts";
import type { Snapshot } from "./status.ts";

const config = loadConfig();
const db = createDb(config.dbUrl, { max: 3 });
const sqs = createSqsClient(config.sqs, config.sqsTimeoutMs);
const startedAt = Date.now();

async function messages(queueUrl: string): Promise<number> {
  const { Attributes } = await sqs.send(
    new GetQueueAttributesCommand({
      QueueUrl: queueUrl,
      AttributeNames: ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    }),
  );
  return Number(Attributes?.ApproximateNumberOfMessages ?? 0) +
    Number(Attributes?.ApproximateNumberOfMessagesNotVisible ?? 0);
}

Deno.serve(withRateLimit(
  (req) =>
    handle(req, {
      snapshot: async () => {
        const [row] = await query<{ snapshot: Snapshot }>(
          db,
          "select to_jsonb(s) as snapshot from private.health_snapshot() s",
        );
        return row!.snapshot;
      },
      queueDepths: async () => {
        const [depth, dlqDepth] = await Promise.all([
          messages(config.sqs.queueUrl),
          config.sqs.dlqUrl ? messages(config.sqs.dlqUrl) : Promise.resolve(null),
        ]);
        return { depth, dlqDepth };
      },
      dbTimeoutMs: config.dbTimeoutMs,
      sqsTimeoutMs: config.sqsTimeoutMs,
      now: Date.now,
      startedAt,
    }),
  rateLimitFromEnv(config.env, "health", db),
));
