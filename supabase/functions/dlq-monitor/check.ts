/**
 * One look at the dead-letter queue: its depth and a sample of up to 10 messages (left in
 * place), recorded in the database, which decides the alert and marks the sampled jobs failed.
 */
import type { DeadLetterQueue } from "./dlq.ts";
import { alertMessage, type SampledJob } from "./message.ts";
import type { MonitorStore } from "./store.ts";

export interface CheckDeps {
  dlq: DeadLetterQueue;
  store: MonitorStore;
  /** AWS region of the queue, for the console link in alerts. */
  region: string;
}

export interface CheckResult {
  depth: number;
  inFlight: number;
  sampled: number;
  deadLettered: number;
  alert: string | null;
}

export const SAMPLE_SIZE = 10;

export async function checkDeadLetters(deps: CheckDeps): Promise<CheckResult> {
  const { visible, inFlight } = await deps.dlq.depth();
  const depth = visible + inFlight;
  const peeked = depth > 0 ? await deps.dlq.peek(SAMPLE_SIZE) : [];
  const sample = peeked.flatMap((m) =>
    m.jobId ? [{ job_id: m.jobId, message_id: m.messageId }] : []
  );
  const record = await deps.store.recordCheck(depth, sample, (r) => {
    const known = new Map(r.jobs.map((j) => [j.job_id, j]));
    return alertMessage({
      kind: r.alert!,
      queueName: deps.dlq.name,
      queueUrl: deps.dlq.url,
      region: deps.region,
      depth,
      inFlight,
      previousDepth: r.previousDepth,
      incidentSince: r.incidentSince ?? undefined,
      sample: peeked.map((m): SampledJob => {
        const job = m.jobId ? known.get(m.jobId) : undefined;
        return {
          jobId: m.jobId,
          customerId: job?.customer_id ?? m.customerId,
          receiveCount: m.receiveCount,
          error: job?.error ?? undefined,
        };
      }),
    });
  });
  return {
    depth,
    inFlight,
    sampled: peeked.length,
    deadLettered: record.deadLettered,
    alert: record.alert,
  };
}
