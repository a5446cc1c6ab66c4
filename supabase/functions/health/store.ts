/**
 * What the health check reads, each behind the handler's own timeout: one database snapshot
 * (private.health_snapshot(), typed by database.types.ts) and the depth of each lane's job queue
 * and of the dead-letter queue.
 */
import type { SQSClient } from "@aws-sdk/client-sqs";
import { type DbClient, query } from "../_shared/db.ts";
import { type Lane, laneQueueUrls, LANES } from "../_shared/lanes.ts";
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

/**
 * Messages waiting or in flight in each lane's queue (queueUrl is the default lane's) and in the
 * DLQ, all asked at once; no DLQ configured: its depth is null.
 */
export function sqsQueueDepths(
  sqs: SQSClient,
  urls: { queueUrl: string; dlqUrl?: string },
): () => Promise<QueueDepths> {
  const laneUrls = laneQueueUrls(urls.queueUrl);
  const messages = async (url: string) => {
    const { visible, inFlight } = await queueDepth(sqs, url);
    return visible + inFlight;
  };
  return async () => {
    const [dlqDepth, ...perLane] = await Promise.all([
      urls.dlqUrl ? messages(urls.dlqUrl) : Promise.resolve(null),
      ...LANES.map((lane) => messages(laneUrls[lane])),
    ]);
    const lanes = Object.fromEntries(LANES.map((lane, i) => [lane, perLane[i]!])) as Record<
      Lane,
      number
    >;
    return { depth: perLane.reduce((sum, n) => sum! + n!, 0)!, lanes, dlqDepth };
  };
}
