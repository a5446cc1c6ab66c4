/**
 * Dead letters as SQS leaves them, made fast: `n` pending jobs whose one copy sent sits in the DLQ
 * (its message id recorded in the outbox, as the dispatcher records it and as SQS keeps it when
 * it moves a message to the DLQ). The integration tests make a few the slow real way (four
 * receives each); a flood of thousands is made this way, for tests and `deno task bench dlq`.
 */
import { SendMessageBatchCommand, type SQSClient } from "@aws-sdk/client-sqs";
import type postgres from "postgres";

export async function seedDeadLetters(
  sql: postgres.Sql,
  sqs: SQSClient,
  dlqUrl: string,
  customer: string,
  n: number,
): Promise<string[]> {
  const jobs = await sql<{ id: string }[]>`
    insert into public.jobs (customer_id, package_size, attempts, error_message)
    select ${customer}, 1, 3, 'Directory answered 500'
      from generate_series(1, ${n})
    returning id`;
  const ids = jobs.map((j) => j.id);
  for (let i = 0; i < ids.length; i += 100) {
    const chunk = ids.slice(i, i + 100);
    const sent = await Promise.all(
      Array.from({ length: Math.ceil(chunk.length / 10) }, async (_, b) => {
        const batch = chunk.slice(b * 10, b * 10 + 10);
        const out = await sqs.send(
          new SendMessageBatchCommand({
            QueueUrl: dlqUrl,
            Entries: batch.map((id, j) => ({
              Id: String(j),
              MessageBody: JSON.stringify({ job_id: id, customer_id: customer }),
            })),
          }),
        );
        return (out.Successful ?? []).map((s) => ({ id: batch[Number(s.Id)]!, mid: s.MessageId! }));
      }),
    );
    const pairs = sent.flat();
    if (pairs.length !== chunk.length) throw new Error("the DLQ did not take every message");
    await sql`
      insert into private.outbox (job_id, delivered_at, message_id)
      select t.job_id, now(), t.message_id
        from unnest(${pairs.map((p) => p.id)}::uuid[], ${pairs.map((p) => p.mid)}::text[])
          as t(job_id, message_id)`;
  }
  return ids;
}
