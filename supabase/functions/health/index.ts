// Wiring only: config and clients are built once per instance; see handler.ts.
import { createDb, query } from "../_shared/db.ts";
import { withRateLimit } from "../_shared/ratelimit/middleware.ts";
import { createRateLimitDeps } from "../_shared/ratelimit/setup.ts";
import { createSqsClient, queueDepth } from "../_shared/sqs.ts";
import { loadConfig } from "./config.ts";
import { handle } from "./handler.ts";
import type { Snapshot } from "./status.ts";

const config = loadConfig();
const db = createDb(config.dbUrl, { max: 3 });
const sqs = createSqsClient(config.sqs, config.sqsTimeoutMs);
const startedAt = Date.now();

async function messages(queueUrl: string): Promise<number> {
  const { visible, inFlight } = await queueDepth(sqs, queueUrl);
  return visible + inFlight;
}

Deno.serve(withRateLimit(
  (req) =>
    handle(req, {
      snapshot: async () => {
        const [row] = await query<{ snapshot: Snapshot }>(
          db,
          "select private.health_snapshot() as snapshot",
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
  createRateLimitDeps(config.rateLimit, db),
));
