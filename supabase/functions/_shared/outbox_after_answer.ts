/**
 * Sends outbox rows the caller has just committed, after it answered (EdgeRuntime.waitUntil
 * keeps the instance alive meanwhile). Rows from concurrent requests are gathered: a lone row
 * leaves at once, but while a send is on its way the next ones wait for a full batch of 10 (up
 * to MAX_SENDS calls in flight), and sent rows are settled together, one settle_outbox call
 * per SETTLE_BATCH rows or whenever no send is left in flight. Under load a burst of single-job
 * requests costs about one SendMessageBatch per ten jobs (each call costs the instance 1-2 ms
 * of CPU in the AWS SDK) and one database round trip per tens of jobs, all after the answers.
 *
 * Nothing is lost when this instance dies first: the rows were committed reserved
 * (available_at a few seconds ahead, see private.enqueue_jobs), so the scheduled dispatch
 * sends whatever was not settled once the reservation ends. A row sent here but not settled
 * (the instance died in between, or the database was out) is sent again then: delivery is at
 * least once, and claim_job's lease makes a duplicate harmless.
 */
import type { DbClient } from "./db.ts";
import { type BatchResult, type OutboxRow, type SendBatch, SQS_BATCH_SIZE } from "./outbox.ts";

/** SendMessageBatch calls in flight at once, per instance. */
export const MAX_SENDS = 2;
/** Sent rows settled in one call at most while sends are still in flight. */
export const SETTLE_BATCH = 50;

export interface AfterAnswerSender {
  /** Resolves once these rows are sent and settled, or left to the scheduled dispatch. */
  send(rows: OutboxRow[]): Promise<void>;
  /** Rows taken but not yet settled: the backlog behind the answers. */
  backlog(): number;
}

interface Entry {
  row: OutboxRow;
  done: () => void;
}

export function afterAnswerSender(
  db: Pick<DbClient, "query">,
  sendBatch: SendBatch,
  /** kind: "unsent" or "unsettled"; under an outage, one line per call (see intervalLog). */
  log: (kind: string, line: string) => void,
): AfterAnswerSender {
  const waiting: Entry[] = [];
  const sent: { entries: Entry[]; result: BatchResult }[] = [];
  let sending = 0;
  let settling = false;
  let backlog = 0;

  function pump(): void {
    while (sending < MAX_SENDS && waiting.length > 0) {
      // A partial batch leaves only when nothing else is on its way: under load, batches fill.
      if (sending > 0 && waiting.length < SQS_BATCH_SIZE) return;
      const entries = waiting.splice(0, SQS_BATCH_SIZE);
      sending++;
      // sendBatch never throws: a failed call fails every row in it.
      void sendBatch(entries.map((e) => e.row)).then((result) => {
        sending--;
        sent.push({ entries, result });
        settle();
        pump();
      });
    }
  }

  function settle(): void {
    if (settling || sent.length === 0) return;
    // While sends are in flight, more results are coming: settle them together.
    const rows = sent.reduce((n, b) => n + b.entries.length, 0);
    if (sending > 0 && rows < SETTLE_BATCH) return;
    settling = true;
    const batch = sent.splice(0);
    const delivered = batch.flatMap((b) => b.result.delivered);
    const failed = batch.flatMap((b) => b.result.failed);
    const finish = () => {
      for (const b of batch) for (const e of b.entries) e.done();
      backlog -= batch.reduce((n, b) => n + b.entries.length, 0);
      settling = false;
      settle();
    };
    if (failed.length > 0) {
      log(
        "unsent",
        `outbox: ${failed.length} message(s) not sent, will retry: ${failed[0]!.error}`,
      );
    }
    db.query("select private.settle_outbox($1::bigint[], $2::text[], $3::bigint[], $4)", [
      delivered.map((d) => d.id),
      delivered.map((d) => d.messageId),
      failed.map((f) => f.id),
      failed[0]?.error ?? null,
    ]).catch((error) => {
      // Sent but not marked: the scheduled dispatch sends them again once the reservation ends.
      const reason = error instanceof Error ? error.message : String(error);
      const rows = delivered.length + failed.length;
      log("unsettled", `outbox: ${rows} row(s) not settled, left to dispatch: ${reason}`);
    }).finally(finish);
  }

  return {
    send(rows) {
      if (rows.length === 0) return Promise.resolve();
      backlog += rows.length;
      const done = Promise.all(
        rows.map((row) => new Promise<void>((resolve) => waiting.push({ row, done: resolve }))),
      );
      pump();
      return done.then(() => {});
    },
    backlog: () => backlog,
  };
}
