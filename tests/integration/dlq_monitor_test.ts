/**
 * The DLQ monitor on the real stack: SQS (fauxqs) with its real redrive to jobs-dlq, Postgres,
 * the dlq-monitor function over HTTP, and the local Slack sink standing in for the webhook.
 * The minute cron job is paused while these run, so each check is the one the test makes;
 * the last test shows the cron path (pg_cron -> pg_net -> function) itself.
 */
import { laneQueueUrls } from "../../supabase/functions/_shared/lanes.ts";
import assert from "node:assert/strict";
import {
  GetQueueAttributesCommand,
  ReceiveMessageCommand,
  SendMessageBatchCommand,
} from "@aws-sdk/client-sqs";
import type postgres from "postgres";
import { sqsClient } from "../../scripts/stack/sqs_queues.ts";
import type { SinkMessage } from "../../scripts/stack/slack_sink.ts";
import { createDb } from "../../supabase/functions/_shared/db.ts";
import { drainOutbox, sqsBatchSender } from "../../supabase/functions/_shared/outbox.ts";
import { sqsDeadLetterQueue } from "../../supabase/functions/dlq-monitor/dlq.ts";
import { redriveDeadLetters } from "../../supabase/functions/dlq-monitor/redrive.ts";
import { walkDeadLetters } from "../../supabase/functions/dlq-monitor/walk.ts";
import { seedDeadLetters } from "../_support/dead_letters.ts";
import { sqlMonitorStore } from "../../supabase/functions/dlq-monitor/store.ts";
import { connect, control, eventually, testStack } from "../_support/stack.ts";
import {
  drainLanes,
  drainQueue,
  serviceHeaders,
  startWorker,
  uniqueCustomer,
} from "../_support/pipeline.ts";

const stack = testStack();
const sinkUrl = new URL(stack.slackWebhookUrl).origin;

// deno-lint-ignore no-explicit-any -- the tests read whichever fields each answer has
type Json = any;

async function post(path: string, body?: unknown): Promise<{ status: number; body: Json }> {
  const res = await fetch(`${stack.apiUrl}/functions/v1/${path}`, {
    method: "POST",
    headers: { ...serviceHeaders(stack), "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: res.status, body: await res.json() };
}

const check = () => post("dlq-monitor");

async function slackMessages(): Promise<SinkMessage[]> {
  return await (await fetch(`${sinkUrl}/_sink/messages`)).json();
}

const delivered = async () => (await slackMessages()).filter((m) => m.status === 200);

async function scriptSlack(statuses: number[], retryAfter = 1): Promise<void> {
  const res = await fetch(`${sinkUrl}/_sink/respond`, {
    method: "POST",
    body: JSON.stringify({ statuses, retryAfter }),
  });
  await res.body?.cancel();
}

async function depths(queueUrl: string): Promise<{ visible: number; hidden: number }> {
  const sqs = sqsClient(stack.sqsEndpoint);
  try {
    const { Attributes } = await sqs.send(
      new GetQueueAttributesCommand({
        QueueUrl: queueUrl,
        AttributeNames: ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
      }),
    );
    return {
      visible: Number(Attributes?.ApproximateNumberOfMessages),
      hidden: Number(Attributes?.ApproximateNumberOfMessagesNotVisible),
    };
  } finally {
    sqs.destroy();
  }
}

async function depth(queueUrl: string): Promise<number> {
  const { visible, hidden } = await depths(queueUrl);
  return visible + hidden;
}

/** Empty queues, no alerts, monitor state and Slack sink as new, the cron job paused. */
async function fresh(sql: postgres.Sql): Promise<void> {
  await sql`update cron.job set active = false where jobname = 'dlq-monitor'`;
  await drainLanes(stack);
  await drainQueue(stack, stack.sqsDlqUrl);
  await sql`delete from private.alerts`;
  await sql`delete from private.dead_letters`;
  await sql`delete from private.integration_status`;
  await sql`update private.dlq_monitor set depth = 0, incident_since = null, alerted_depth = null,
                                           alerted_at = null, empty_checks = 0`;
  await sql`update private.slack_delivery set not_before = '-infinity', leased_until = '-infinity'`;
  await sql`update private.settings set alert_retry_base_seconds = 1`;
  await scriptSlack([]);
  await (await fetch(`${sinkUrl}/_sink/messages`, { method: "DELETE" })).body?.cancel();
}

async function cleanUp(sql: postgres.Sql): Promise<void> {
  await drainLanes(stack);
  await drainQueue(stack, stack.sqsDlqUrl);
  await sql`update private.settings set alert_retry_base_seconds = 30, retry_base_seconds = 30,
                                        retry_max_seconds = 3600`;
  await sql`delete from private.integration_status`;
  await sql`update cron.job set active = true where jobname = 'dlq-monitor'`;
  await sql.end();
}

/**
 * `n` jobs, dispatched to `jobs` as usual, then received four times each without being deleted,
 * so SQS itself moves them to the DLQ (maxReceiveCount 3), as it does for a crashing worker.
 */
async function deadLetterJobs(sql: postgres.Sql, n: number): Promise<string[]> {
  const customer = uniqueCustomer("dlq");
  const ids: string[] = [];
  for (let i = 0; i < n; i++) {
    const [row] = await sql<{ job_id: string }[]>`
      select job_id from public.enqueue_job(${customer}, 1)`;
    ids.push(row!.job_id);
  }
  assert.equal((await post("dispatch")).status, 200);
  const sqs = sqsClient(stack.sqsEndpoint);
  try {
    await eventually(
      `${n} messages in the DLQ`,
      async () => {
        await sqs.send(
          new ReceiveMessageCommand({
            QueueUrl: stack.sqsQueueUrl,
            MaxNumberOfMessages: 10,
            VisibilityTimeout: 0,
          }),
        );
        return (await depth(stack.sqsDlqUrl)) >= n ? true : undefined;
      },
      30_000,
      0,
    );
  } finally {
    sqs.destroy();
  }
  return ids;
}

Deno.test("a poison job reaches the DLQ after 3 receives: one alert naming it, no repeat, resolved after a redrive", async () => {
  const sql = connect(stack.dbUrl);
  await fresh(sql);
  // Quick retries, so three receives take seconds, not minutes.
  await sql`update private.settings set retry_base_seconds = 1, retry_max_seconds = 2`;
  const worker = startWorker(stack, { HANDLER_FAILURE_RATE: "1", HANDLER_DURATION_MS: "0" });
  try {
    const customer = uniqueCustomer("poison");
    const [{ job_id: id }] = await sql<[{ job_id: string }]>`
      select job_id from public.enqueue_job(${customer}, 1)`;
    assert.equal((await post("dispatch")).status, 200);
    await eventually(
      "the poison job in the DLQ",
      async () => (await depth(stack.sqsDlqUrl)) === 1 ? true : undefined,
      30_000,
      200,
    );
    await worker.stop();
    const attempts = await sql`select attempt from public.queue_history
                                where job_id = ${id} and event = 'claimed'`;
    assert.equal(attempts.length, 3, "claimed on each of the 3 receives");

    const first = await check();
    assert.equal(first.status, 200, JSON.stringify(first.body));
    assert.equal(first.body.alert, "dlq_triggered");
    assert.equal(first.body.delivered, 1);
    const [job] = await sql`select status, error_message from public.jobs where id = ${id}`;
    assert.equal(job!.status, "failed");
    assert.match(job!.error_message, /^Dead-lettered \(last error: Directory rejected/);

    const messages = await delivered();
    assert.equal(messages.length, 1);
    const alert = messages[0]!.body as { text: string; blocks: { type: string }[] };
    assert.ok(alert.text.includes(id), "the text fallback names the job (one of a few)");
    assert.ok(JSON.stringify(alert.blocks).includes(customer), "the blocks name its customer");
    assert.ok(JSON.stringify(alert.blocks).includes("console.aws.amazon.com"), "and link to it");
    assert.equal(alert.blocks[0]!.type, "header");

    for (let i = 0; i < 3; i++) assert.equal((await check()).body.alert, null);
    assert.equal((await delivered()).length, 1, "no repeat on the next checks");

    const moved = await post("dlq-monitor/redrive", { limit: 10 });
    assert.equal(moved.status, 200, JSON.stringify(moved.body));
    assert.equal(moved.body.moved.requeued, 1);
    const [again] = await sql`select status from public.jobs where id = ${id}`;
    assert.equal(again!.status, "pending", "the job is pending again");
    // Other tests' jobs may pass through the shared lanes meanwhile; this one must be there once.
    const bodies = await drainLanes(stack);
    assert.deepEqual(
      bodies.map((b) => JSON.parse(b).job_id).filter((jobId) => jobId === id),
      [id],
      "back on jobs, once",
    );

    assert.equal((await check()).body.alert, null, "one empty check does not resolve");
    assert.equal((await check()).body.alert, "dlq_resolved");
    const all = await delivered();
    assert.equal(all.length, 2);
    assert.match((all[1]!.body as { text: string }).text, /Resolved/);
  } finally {
    await worker.stop();
    await cleanUp(sql);
  }
});

Deno.test("Slack answers 429 then 200: the alert is delivered once, after Retry-After", async () => {
  const sql = connect(stack.dbUrl);
  await fresh(sql);
  try {
    await deadLetterJobs(sql, 1);
    // Each check takes about a second (its walk ends on an empty long poll): Retry-After 5.
    await scriptSlack([429], 5);
    const first = await check();
    assert.equal(first.body.delivered, 0);
    assert.equal(first.body.stoppedBy, "rate_limited");
    assert.equal((await check()).body.delivered, 0, "not before Retry-After has passed");
    await new Promise((r) => setTimeout(r, 5_100));
    assert.equal((await check()).body.delivered, 1);
    assert.equal((await check()).body.delivered, 0);
    const statuses = (await slackMessages()).map((m) => m.status);
    assert.deepEqual(statuses, [429, 200]);
  } finally {
    await cleanUp(sql);
  }
});

Deno.test("Slack answers 500 for three runs: the alert is delivered after, once", async () => {
  const sql = connect(stack.dbUrl);
  await fresh(sql);
  try {
    await deadLetterJobs(sql, 1);
    await scriptSlack([500, 500, 500]);
    // Backoff 1 s, 2 s, 4 s (alert_retry_base_seconds = 1): check until it went out.
    await eventually(
      "the alert delivered",
      async () => {
        await check();
        return (await delivered()).length > 0 ? true : undefined;
      },
      20_000,
      500,
    );
    assert.deepEqual((await slackMessages()).map((m) => m.status), [500, 500, 500, 200]);
    const [alert] = await sql`select tries, delivered_at from private.alerts`;
    assert.equal(alert!.tries, 4);
    await check();
    assert.equal((await delivered()).length, 1, "never sent again once delivered");
  } finally {
    await cleanUp(sql);
  }
});

Deno.test("a run while Slack is unreachable loses nothing; a 404 shows in health until Slack works", async () => {
  const sql = connect(stack.dbUrl);
  await fresh(sql);
  try {
    await deadLetterJobs(sql, 2);
    await control("slack-sink", "stop");
    try {
      const run = await check();
      assert.equal(run.status, 200);
      assert.equal(run.body.alert, "dlq_triggered");
      assert.equal(run.body.stoppedBy, "failed");
      const [alert] = await sql`select delivered_at, last_error from private.alerts`;
      assert.equal(alert!.delivered_at, null, "kept");
      assert.match(alert!.last_error, /Slack unreachable/);
      assert.ok(!alert!.last_error.includes(stack.slackWebhookUrl), "the URL is never recorded");
    } finally {
      await control("slack-sink", "start");
    }
    await scriptSlack([404]);
    await new Promise((r) => setTimeout(r, 1_100));
    assert.equal((await check()).body.stoppedBy, "misconfigured");
    const health = await (await fetch(`${stack.apiUrl}/functions/v1/health`)).json();
    assert.ok(
      health.reasons.includes("slack is misconfigured: Slack webhook answered 404 no_team"),
      JSON.stringify(health.reasons),
    );
    // An operator fixes the webhook; the alert waits for its (long) backoff, cut short here.
    await sql`update private.alerts set available_at = now()`;
    assert.equal((await check()).body.delivered, 1);
    const after = await (await fetch(`${stack.apiUrl}/functions/v1/health`)).json();
    assert.ok(!after.reasons.some((r: string) => r.startsWith("slack")), "health recovers");
    assert.equal((await delivered()).length, 1);
  } finally {
    await cleanUp(sql);
  }
});

Deno.test("a burst of 1,000 dead letters gives one message, not one per dead letter", async () => {
  const sql = connect(stack.dbUrl);
  await fresh(sql);
  const sqs = sqsClient(stack.sqsEndpoint);
  try {
    const send = async (n: number) => {
      for (let i = 0; i < n; i += 10) {
        await sqs.send(
          new SendMessageBatchCommand({
            QueueUrl: stack.sqsDlqUrl,
            Entries: Array.from({ length: 10 }, (_, j) => ({
              Id: String(j),
              MessageBody: JSON.stringify({ job_id: crypto.randomUUID(), customer_id: "burst" }),
            })),
          }),
        );
      }
    };
    await send(400);
    await check();
    await send(600);
    for (let i = 0; i < 3; i++) await check();
    const messages = await delivered();
    assert.equal(messages.length, 1, messages.map((m) => (m.body as { text: string }).text).join());
  } finally {
    sqs.destroy();
    await cleanUp(sql);
  }
});

Deno.test("a redrive interrupted halfway and run again puts every message back on jobs once", async () => {
  const sql = connect(stack.dbUrl);
  await fresh(sql);
  const sqs = sqsClient(stack.sqsEndpoint);
  const fnDb = createDb(stack.dbUrl);
  try {
    const ids = await deadLetterJobs(sql, 15);
    const dry = await post("dlq-monitor/redrive", { dryRun: true });
    // A peek counts as in flight for an instant (fauxqs, like SQS, until the timeout of 0 lapses).
    assert.equal(dry.body.remaining.visible + dry.body.remaining.inFlight, 15);
    assert.equal(dry.body.sample.length, 10);
    assert.equal(await depth(stack.sqsDlqUrl), 15, "a dry run moves nothing");

    // First run: in this process, dies after deleting 3 messages of its first batch of 10.
    const dlq = sqsDeadLetterQueue(sqs, stack.sqsDlqUrl);
    let deletes = 0;
    const dying = {
      ...dlq,
      async delete(message: Parameters<typeof dlq.delete>[0]) {
        if (++deletes > 3) throw new Error("killed mid-redrive");
        await dlq.delete(message);
      },
    };
    const send = sqsBatchSender(sqs, laneQueueUrls(stack.sqsQueueUrl));
    await assert.rejects(
      redriveDeadLetters({
        dlq: dying,
        store: sqlMonitorStore(fnDb),
        dispatch: async (outboxIds) => {
          await drainOutbox(fnDb, send, { limit: 10, onlyIds: outboxIds });
        },
        visibilitySeconds: 1,
        budgetMs: 10_000,
        now: Date.now,
      }, { limit: 100, dryRun: false }),
      /killed mid-redrive/,
    );
    await new Promise((r) => setTimeout(r, 1_200)); // the 7 undeleted messages show again

    const second = await post("dlq-monitor/redrive", { limit: 100 });
    assert.equal(second.status, 200, JSON.stringify(second.body));
    assert.equal(second.body.moved.requeued, 5, "the 5 the first run never received");
    assert.equal(second.body.moved.already_redriven, 7, "the 7 it handled but did not delete");
    assert.equal(await depth(stack.sqsDlqUrl), 0);

    const sent = (await drainLanes(stack)).map((b) => JSON.parse(b).job_id);
    assert.deepEqual(sent.toSorted(), ids.toSorted(), "every job back on jobs exactly once");
    const pending = await sql`select count(*)::int as n from public.jobs
                               where id = any(${ids}) and status = 'pending'`;
    assert.equal(pending[0]!.n, 15);
  } finally {
    sqs.destroy();
    await fnDb.end();
    await cleanUp(sql);
  }
});

Deno.test("deno task dlq:redrive --dry-run shows, --limit N moves N, and a rerun moves the rest", async () => {
  const sql = connect(stack.dbUrl);
  await fresh(sql);
  const cli = async (...args: string[]) => {
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", "scripts/dlq_redrive.ts", ...args],
      env: { SUPABASE_URL: stack.apiUrl, SUPABASE_SERVICE_ROLE_KEY: stack.serviceRoleKey },
      stdout: "piped",
      stderr: "piped",
    }).output();
    const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
    assert.equal(out.code, 0, text);
    return text;
  };
  try {
    const ids = await deadLetterJobs(sql, 3);
    assert.equal((await check()).body.read, 3);
    const dry = await cli("--dry-run");
    assert.match(dry, /Dry run: 3 message\(s\) in the DLQ/);
    assert.match(dry, /Recorded by the monitor: 3 \(settled 3\)/);
    assert.equal(await depth(stack.sqsDlqUrl), 3);
    assert.match(await cli("--limit", "2"), /Done: 2 job\(s\) re-queued/);
    assert.match(await cli(), /Done: 1 job\(s\) re-queued/);
    assert.equal(await depth(stack.sqsDlqUrl), 0);
    const sent = (await drainLanes(stack)).map((b) => JSON.parse(b).job_id);
    assert.deepEqual(sent.toSorted(), ids.toSorted());
  } finally {
    await cleanUp(sql);
  }
});

Deno.test("bad redrive requests get a 400 and move nothing; only the service role may call", async () => {
  for (
    const body of [{ limit: 0 }, { limit: 1.5 }, { limit: "10" }, { dryRun: "yes" }, { force: 1 }, [
      1,
    ]]
  ) {
    const res = await post("dlq-monitor/redrive", body);
    assert.equal(res.status, 400, JSON.stringify(body));
    assert.equal(typeof res.body.code, "string");
  }
  const anon = await fetch(`${stack.apiUrl}/functions/v1/dlq-monitor`, {
    method: "POST",
    headers: { authorization: `Bearer ${stack.anonKey}` },
  });
  assert.equal(anon.status, 403);
  await anon.body?.cancel();
});

Deno.test("pg_cron's path: invoke_function('dlq-monitor') reaches the function through pg_net and Vault", async () => {
  const sql = connect(stack.dbUrl);
  try {
    const [{ id }] = await sql<[{ id: string }]>`
      select private.invoke_function('dlq-monitor') as id`;
    const response = await eventually(
      "the pg_net response",
      async () => {
        const [row] =
          await sql`select status_code, content from net._http_response where id = ${id}`;
        return row;
      },
      15_000,
      200,
    );
    assert.equal(response.status_code, 200, response.content);
    assert.ok("depth" in JSON.parse(response.content));
  } finally {
    await sql.end();
  }
});

Deno.test("a flood of 1,000 dead letters: every job settled and recorded within two runs, the DLQ as it was, one alert in counts", async () => {
  const sql = connect(stack.dbUrl);
  await fresh(sql);
  const sqs = sqsClient(stack.sqsEndpoint);
  try {
    const customer = uniqueCustomer("flood");
    const ids = await seedDeadLetters(sql, sqs, stack.sqsDlqUrl, customer, 1_000);
    let runs = 0;
    const settled = async () =>
      (await sql`select count(*)::int as n from public.jobs
                  where id = any(${ids}) and status = 'failed'`)[0]!.n;
    while (runs < 2 && (await settled()) < 1_000) {
      const run = await check();
      assert.equal(run.status, 200, JSON.stringify(run.body));
      runs++;
    }
    assert.equal(await settled(), 1_000, `every job settled after ${runs} run(s)`);
    const [job] = await sql`select error_message from public.jobs where id = ${ids[0]!}`;
    assert.equal(job!.error_message, "Dead-lettered (last error: Directory answered 500)");
    const history = await sql`select count(*)::int as n from public.queue_history
                               where job_id = any(${ids}) and event = 'dead_lettered'`;
    assert.equal(history[0]!.n, 1_000, "one dead_lettered history row each");

    const rows = await sql`select action, count(*)::int as n from private.dead_letters
                            group by action`;
    assert.deepEqual(rows.map((r) => [r.action, r.n]), [["settled", 1_000]]);
    assert.deepEqual(
      await depths(stack.sqsDlqUrl),
      { visible: 1_000, hidden: 0 },
      "every message is still in the DLQ, visible to alarms and redrive",
    );

    const messages = await delivered();
    assert.equal(messages.length, 1, "one alert for the flood");
    const alert = messages[0]!.body as { text: string; blocks: unknown[] };
    assert.match(alert.text, /1,000 jobs marked failed; most from .+ \(1,000\)/);
    assert.ok(alert.text.length < 300, "counts, not a list of a thousand ids");
    assert.ok(JSON.stringify(alert.blocks).includes("Recorded: 1,000 dead letters"));
  } finally {
    sqs.destroy();
    await cleanUp(sql);
  }
});

Deno.test("a walk out of budget leaves what it read hidden; the next walk goes on and shows it all again", async () => {
  const sql = connect(stack.dbUrl);
  await fresh(sql);
  const sqs = sqsClient(stack.sqsEndpoint);
  const fnDb = createDb(stack.dbUrl);
  try {
    await seedDeadLetters(sql, sqs, stack.sqsDlqUrl, uniqueCustomer("walk"), 60);
    const dlq = sqsDeadLetterQueue(sqs, stack.sqsDlqUrl);
    const store = sqlMonitorStore(fnDb);
    // A clock where every look costs 400 ms: the 1 s budget ends after two receives. The hide
    // is short here (3 s) so the test need not wait out the real one.
    let t = 0;
    const first = await walkDeadLetters({
      dlq,
      store,
      budgetMs: 1_000,
      hideSeconds: 3,
      now: () => (t += 400),
    });
    assert.equal(first.walked, false);
    assert.equal(first.read, 20);
    assert.deepEqual(await depths(stack.sqsDlqUrl), { visible: 40, hidden: 20 });

    const second = await walkDeadLetters({
      dlq,
      store,
      budgetMs: 20_000,
      hideSeconds: 3,
      now: Date.now,
    });
    assert.equal(second.walked, true);
    assert.equal(second.read, 40, "the next walk reads the ones the first did not reach");
    const recorded = await sql`select count(*)::int as n from private.dead_letters`;
    assert.equal(recorded[0]!.n, 60, "between them, every message is recorded");
    await new Promise((r) => setTimeout(r, 3_500)); // the first walk's hide ends
    const third = await walkDeadLetters({
      dlq,
      store,
      budgetMs: 20_000,
      hideSeconds: 3,
      now: Date.now,
    });
    assert.equal(third.read, 60, "then every message is there for anyone to receive again");
  } finally {
    sqs.destroy();
    await fnDb.end();
    await cleanUp(sql);
  }
});

Deno.test("rows go when their messages leave the DLQ: at once on a redrive, at the next check after a purge", async () => {
  const sql = connect(stack.dbUrl);
  await fresh(sql);
  const sqs = sqsClient(stack.sqsEndpoint);
  try {
    const ids = await seedDeadLetters(sql, sqs, stack.sqsDlqUrl, uniqueCustomer("rows"), 20);
    assert.equal((await check()).body.read, 20);
    const count = async () =>
      (await sql`select count(*)::int as n from private.dead_letters`)[0]!.n;
    assert.equal(await count(), 20);

    const dry = await post("dlq-monitor/redrive", { dryRun: true });
    assert.deepEqual(dry.body.recorded, { total: 20, byAction: { settled: 20 } });
    const moved = await post("dlq-monitor/redrive", { limit: 5 });
    assert.equal(moved.body.moved.requeued, 5);
    assert.equal(await count(), 15, "a redriven message's row goes with it");
    const again = await sql`select count(*)::int as n from public.jobs
                             where id = any(${ids}) and status = 'pending'`;
    assert.equal(again[0]!.n, 5);

    await drainQueue(stack, stack.sqsDlqUrl); // an operator purges the DLQ
    const after = await check();
    assert.equal(after.body.pruned, 15);
    assert.equal(await count(), 0, "nothing listed that is not in the DLQ");
  } finally {
    sqs.destroy();
    await cleanUp(sql);
  }
});

Deno.test("a job whose message is gone from both queues is sent again by the sweep, and runs", async () => {
  const sql = connect(stack.dbUrl);
  await fresh(sql);
  // No scheduled dispatch meanwhile: these jobs' messages must never reach SQS.
  await sql`update cron.job set active = false where jobname = 'dispatch-outbox'`;
  const worker = startWorker(stack, { HANDLER_DURATION_MS: "0" });
  try {
    const customer = uniqueCustomer("lost");
    const [{ job_id: id }] = await sql<[{ job_id: string }]>`
      select job_id from public.enqueue_job(${customer}, 1)`;
    const [{ job_id: waiting }] = await sql<[{ job_id: string }]>`
      select job_id from public.enqueue_job(${customer}, 1)`;
    await sql`update private.outbox set delivered_at = now(), message_id = 'deleted-by-mistake'
               where job_id in (${id}, ${waiting})`;
    // Both were "sent" (the message never reached SQS: as if deleted); one waits 4 hours.
    await sql`update public.jobs set created_at = now() - interval '4 hours',
                                     run_after = now() - interval '4 hours' where id = ${id}`;
    await sql`update private.outbox set delivered_at = now() - interval '4 hours'
               where job_id = ${id}`;
    await eventually("the worker's first heartbeat", async () => {
      const [row] = await sql`select count(*)::int as n from public.worker_heartbeats
                               where last_heartbeat > private.stale_before()`;
      return row!.n > 0 ? true : undefined;
    });
    const [{ resent }] = await sql<[{ resent: number }]>`
      select private.resend_lost_jobs() as resent`;
    assert.equal(resent, 1, "only the job waiting past lost_message_after_seconds");
    assert.equal((await post("dispatch")).status, 200);
    await eventually("the lost job completed", async () => {
      const [job] = await sql`select status from public.jobs where id = ${id}`;
      return job!.status === "completed" ? true : undefined;
    }, 20_000);
    const events = await sql`select event from public.queue_history where job_id = ${id}
                              order by id`;
    assert.deepEqual(events.map((e) => e.event), ["enqueued", "resent", "claimed", "completed"]);
    const [other] = await sql`select status from public.jobs where id = ${waiting}`;
    assert.equal(other!.status, "pending", "a job waiting a normal while is left alone");
    await sql`update public.jobs set status = 'failed', completed_at = now()
               where id = ${waiting}`;
  } finally {
    await worker.stop();
    await sql`update cron.job set active = true where jobname = 'dispatch-outbox'`;
    await cleanUp(sql);
  }
});
