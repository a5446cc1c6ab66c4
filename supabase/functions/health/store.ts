/**
 * What the health check reads, each behind the handler's own timeout: one database snapshot
 * (private.health_snapshot(), typed by database.types.ts) and the depth of the job queue and of
 * its dead-letter queue.
 */
import type { SQSClient } from "@aws-sdk/client-sqs";
import { type DbClient, query } from "../_shared/db.ts";
import { queueDepth } from "../_shared/sqs.ts";
import type { QueueDepths, Snapshot } from "./status.ts";

export interface HealthStore {
  snapshot(): Promise<Snapshot>;
}

export function sqlHealthStore(db: DbClient): HealthStore {
  return {
    async snapshot() {
      // As JSON: node-postgres does not parse composite values (the cron job and
      // integration arrays); to_jsonb gives them the shape the generated types describe.
      const [row] = await query<{ snapshot: Snapshot }>(
        db,
        "select to_jsonb(s) as snapshot from private.health_snapshot() s",
      );
      return row!.snapshot;
    },
  };
}

/** Messages waiting or in flight in each queue; no DLQ configured: its depth is null. */
export function sqsQueueDepths(
  sqs: SQSClient,
  urls: { queueUrl: string; dlqUrl?: string },
): () => Promise<QueueDepths> {
  const messages = async (url: string) => {
    const { visible, inFlight } = await queueDepth(sqs, url);
    return visible + inFlight;
  };
  return async () => {
    const [depth, dlqDepth] = await Promise.all([
      messages(urls.queueUrl),
      urls.dlqUrl ? messages(urls.dlqUrl) : Promise.resolve(null),
    ]);
    return { depth, dlqDepth };
  };
}
