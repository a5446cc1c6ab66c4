/**
 * Enqueue on the real stack as issue #15 defines it: the answer comes once the jobs are
 * committed, without waiting for SQS, after at most 2 database round trips (counted on the wire);
 * the sends follow the answer, and a crash between the two loses nothing. Bulk requests: all or
 * nothing, idempotent as a batch, charged to the customer's jobs policy with the shipped defaults.
 */
import assert from "node:assert/strict";
import { CreateQueueCommand, DeleteQueueCommand } from "@aws-sdk/client-sqs";
import { sqsClient } from "../../scripts/stack/sqs_queues.ts";
import { type ExtraGateway, startExtraGateway } from "../../scripts/stack/extra_gateway.ts";
import { pgRoundTrips, type RoundTripCounter } from "../_support/pg_wire.ts";
import { drainLanes, serviceHeaders, startWorker, uniqueCustomer } from "../_support/pipeline.ts";
import { connect, eventually, first, testStack } from "../_support/stack.ts";
import { type TcpProxy, tcpProxy } from "../_support/tcp_proxy.ts";

const stack = testStack();
const JSON_TYPE = { "content-type": "application/json" };

/**
 * A queue function instance of its own, whose database and SQS traffic pass through proxies:
 * the first counts round trips, the second can hold every byte (silence) like a stalled network.
 */
async function withProxiedQueue(
  env: Record<string, string>,
  fn: (
    q: { url: string; gateway: ExtraGateway; sqs: TcpProxy; trips: RoundTripCounter },
  ) => Promise<void>,
): Promise<void> {
  const trips = pgRoundTrips();
  const dbUrl = new URL(stack.dbUrl);
  const db = tcpProxy(Number(dbUrl.port), { onClientBytes: trips.observe });
  const sqs = tcpProxy(Number(new URL(stack.sqsEndpoint).port));
  dbUrl.port = String(db.port);
  let gateway: ExtraGateway | undefined;
  try {
    gateway = await startExtraGateway(stack.stateDir, {
      env: { SUPABASE_DB_URL: dbUrl.href, SQS_ENDPOINT: `http://127.0.0.1:${sqs.port}`, ...env },
      prestart: ["queue"],
    });
    await fn({ url: `${gateway.url}/functions/v1/queue`, gateway, sqs, trips });
  } finally {
    sqs.restore();
    await gateway?.close();
    await db.close();
    await sqs.close();
  }
}

async function issueApiKey(customer: string): Promise<string> {
  const sql = connect(stack.dbUrl);
  try {
    return first(await sql`select api_key from private.issue_api_key(${customer}, 'enqueue test')`)
      .api_key;
  } finally {
    await sql.end();
  }
}

async function outboxOf(ids: string[]) {
  const sql = connect(stack.dbUrl);
  try {
    return first(
      await sql`
      select count(*)::int as rows,
             count(*) filter (where delivered_at is null)::int as waiting,
             count(*) filter (where delivered_at is null and available_at > now())::int as reserved
        from private.outbox where job_id = any(${ids}::uuid[])`,
    );
  } finally {
    await sql.end();
  }
}

Deno.test("an admitted POST answers before SQS, after 2 database round trips; its job reaches SQS after", async () => {
  await drainLanes(stack);
  const customer = uniqueCustomer("fast");
  const apiKey = await issueApiKey(customer);
  const ids: string[] = [];
  await withProxiedQueue({}, async ({ url, sqs, trips }) => {
    const post = async () => {
      const res = await fetch(`${url}/${customer}`, {
        method: "POST",
        headers: { "x-api-key": apiKey, ...JSON_TYPE },
        body: JSON.stringify({ package_size: 3, priority_level: 1 }),
      });
      assert.equal(res.status, 202);
      return (await res.json()).job.id as string;
    };
    // The first request looks the API key up and opens the pools.
    ids.push(await post());
    // From here SQS takes no byte: an answer that waited for it would never come.
    sqs.silence();
    const perPost: number[] = [];
    for (let i = 0; i < 5; i++) {
      const before = trips.count();
      ids.push(await post());
      perPost.push(trips.count() - before);
    }
    assert.deepEqual(perPost, [2, 2, 2, 2, 2], "rate limit + enqueue; the API key is cached");
    const held = await outboxOf(ids.slice(1));
    assert.equal(held.waiting, 5, "answered while none of them has reached SQS");
    assert.equal(held.reserved, 5, "left to this instance's send for now, not to dispatch");
    sqs.restore();
    await eventually("the instance to send them once SQS answers", async () => {
      const rows = await outboxOf(ids);
      return rows.waiting === 0 ? true : undefined;
    }, 15_000);
  });
  // (The held first try and the SDK's retry may both have arrived: at least once. Another
  // test's late message may be there too.)
  const sent = new Set(
    (await drainLanes(stack)).map((b) => JSON.parse(b).job_id),
  );
  assert.deepEqual(ids.filter((id) => !sent.has(id)), [], "every job is on SQS");
});

Deno.test("the instance dies between answer and send: the jobs still reach a worker", async () => {
  await drainLanes(stack);
  const customer = uniqueCustomer("crash");
  const ids: string[] = [];
  // The reservation only sets the pace (default 15 s); 6 s, the least it may be with the shipped
  // SQS timeout (2 tries of 2 s and a second), keeps the test short.
  await withProxiedQueue({ QUEUE_SEND_RESERVE_SECONDS: "6" }, async ({ url, gateway, sqs }) => {
    sqs.silence();
    const single = await fetch(`${url}/${customer}`, {
      method: "POST",
      headers: { ...serviceHeaders(stack), ...JSON_TYPE },
      body: JSON.stringify({ package_size: 1, priority_level: 0 }),
    });
    assert.equal(single.status, 202);
    ids.push((await single.json()).job.id);
    const bulk = await fetch(`${url}/${customer}`, {
      method: "POST",
      headers: { ...serviceHeaders(stack), ...JSON_TYPE },
      body: JSON.stringify({
        jobs: [{ package_size: 1, priority_level: 0 }, { package_size: 2, priority_level: 0 }],
      }),
    });
    assert.equal(bulk.status, 202);
    ids.push(...(await bulk.json()).jobs.map((j: { id: string }) => j.id));
    const [pid] = gateway.gateway.pids("queue");
    assert.ok(pid, "the instance that answered is running");
    Deno.kill(pid, "SIGKILL");
    await eventually(
      "the instance to be gone",
      () => Promise.resolve(gateway.gateway.pids("queue").length === 0 ? true : undefined),
    );
  });
  const left = await outboxOf(ids);
  assert.equal(left.waiting, 3, "nothing reached SQS before the crash");

  const worker = startWorker(stack);
  const sql = connect(stack.dbUrl);
  try {
    await eventually(
      "every job to be completed",
      async () => {
        // What pg_cron's dispatch-outbox does every minute, at the test's pace.
        const res = await fetch(`${stack.apiUrl}/functions/v1/dispatch`, {
          method: "POST",
          headers: serviceHeaders(stack),
        });
        await res.body?.cancel();
        const { done } = first(
          await sql`
          select count(*)::int as done from public.jobs
           where id = any(${ids}::uuid[]) and status = 'completed'`,
        );
        return done === 3 ? true : undefined;
      },
      30_000,
      500,
    );
  } finally {
    await sql.end();
    assert.equal((await worker.stop()).code, 0);
  }
});

async function postJobs(
  customer: string,
  body: unknown,
  headers: Record<string, string> = {},
  base = `${stack.apiUrl}/functions/v1/queue`,
): Promise<Response> {
  return await fetch(`${base}/${customer}`, {
    method: "POST",
    headers: { ...serviceHeaders(stack), ...JSON_TYPE, ...headers },
    body: JSON.stringify(body),
  });
}

const item = (i: number) => ({
  package_size: (i % 100) + 1,
  priority_level: i % 11,
  payload: { listing: `listing-${i}`, directories: ["a", "b"] },
});

Deno.test("bulk: 500 jobs in one request, in order, on SQS; a replay returns them and writes nothing", async () => {
  await drainLanes(stack);
  const customer = uniqueCustomer("bulk");
  const jobs = Array.from({ length: 500 }, (_, i) => item(i));
  const res = await postJobs(customer, { jobs }, { "idempotency-key": "import-1" });
  assert.equal(res.status, 202);
  const answer = (await res.json()).jobs as {
    id: string;
    package_size: number;
    replayed: boolean;
  }[];
  assert.equal(answer.length, 500);
  assert.deepEqual(answer.map((j) => j.package_size), jobs.map((j) => j.package_size));
  assert.ok(answer.every((j) => !j.replayed));
  assert.match(res.headers.get("ratelimit") ?? "", /"jobs";r=9500;/, "charged 500 jobs");

  const again = await postJobs(customer, { jobs }, { "idempotency-key": "import-1" });
  assert.equal(again.status, 202);
  assert.equal(again.headers.get("idempotent-replayed"), "true");
  assert.doesNotMatch(again.headers.get("ratelimit") ?? "", /"jobs"/, "a replay costs nothing");
  const replayed = (await again.json()).jobs as { id: string; replayed: boolean }[];
  assert.deepEqual(replayed.map((j) => j.id), answer.map((j) => j.id), "the same jobs, in order");
  assert.ok(replayed.every((j) => j.replayed));

  const other = await postJobs(customer, { jobs: jobs.slice(1) }, {
    "idempotency-key": "import-1",
  });
  assert.equal(other.status, 409);
  assert.equal((await other.json()).code, "idempotency_key_reused");

  const sql = connect(stack.dbUrl);
  try {
    const { n } = first(
      await sql`
      select count(*)::int as n from public.jobs where customer_id = ${customer}`,
    );
    assert.equal(n, 500, "the replay and the conflict wrote nothing");
  } finally {
    await sql.end();
  }
  await eventually("all 500 outbox rows to be delivered", async () => {
    const rows = await outboxOf(answer.map((j) => j.id));
    return rows.waiting === 0 ? true : undefined;
  }, 20_000);
  const sent = new Set(
    (await drainLanes(stack)).map((b) => JSON.parse(b).job_id),
  );
  assert.ok(answer.every((j) => sent.has(j.id)), "every job of the batch is on SQS");
});

Deno.test("bulk: a bad item is a 400 naming its index, and nothing at all is written", async () => {
  const customer = uniqueCustomer("bulk-bad");
  const jobs = Array.from({ length: 300 }, (_, i) => item(i));
  jobs[250] = { ...item(250), priority_level: 11 };
  const res = await postJobs(customer, { jobs });
  assert.equal(res.status, 400);
  const body = await res.json();
  assert.equal(body.index, 250);
  assert.equal(body.field, "jobs[250].priority_level");

  // A key taken by an earlier job for other content: a 409 naming the item, nothing written.
  const first1 = await postJobs(customer, { ...item(1) }, { "idempotency-key": "order-7" });
  assert.equal(first1.status, 202);
  await first1.body?.cancel();
  const clash = await postJobs(customer, {
    jobs: [item(0), { ...item(9), idempotency_key: "order-7" }, item(2)],
  });
  assert.equal(clash.status, 409);
  assert.equal((await clash.json()).index, 1);

  // The same key for the same job: that item is the earlier job; the others are new.
  const mixed = await postJobs(customer, {
    jobs: [item(0), { ...item(1), idempotency_key: "order-7" }],
  });
  assert.equal(mixed.status, 202);
  const mixedJobs = (await mixed.json()).jobs as { replayed: boolean }[];
  assert.deepEqual(mixedJobs.map((j) => j.replayed), [false, true]);

  const sql = connect(stack.dbUrl);
  try {
    const { n } = first(
      await sql`
      select count(*)::int as n from public.jobs where customer_id = ${customer}`,
    );
    assert.equal(n, 2, "only the single job and the mixed batch's new job");
  } finally {
    await sql.end();
  }
});

Deno.test("the shipped jobs policy: 10,000 jobs an hour per customer, then 429; replays still answer", async () => {
  const customer = uniqueCustomer("quota");
  // This instance sends to a scratch queue: 10,000 messages must not flood the shared one.
  const sqs = sqsClient(stack.sqsEndpoint);
  const { QueueUrl: scratch } = await sqs.send(
    new CreateQueueCommand({ QueueName: `quota-${crypto.randomUUID().slice(0, 8)}` }),
  );
  const gateway = await startExtraGateway(stack.stateDir, {
    env: { SQS_QUEUE_URL: scratch! },
    prestart: ["queue"],
  });
  const url = `${gateway.url}/functions/v1/queue`;
  const sql = connect(stack.dbUrl);
  try {
    const jobs = Array.from({ length: 500 }, (_, i) => item(i));
    for (let i = 0; i < 20; i++) {
      const res = await postJobs(customer, { jobs }, { "idempotency-key": `part-${i}` }, url);
      assert.equal(res.status, 202, `bulk ${i + 1} of 20 fits under 10,000 jobs an hour`);
      await res.body?.cancel();
    }
    // GCRA refills one job every 360 ms: the seconds spent above let a few more in, not 500.
    const over = await postJobs(customer, { jobs }, {}, url);
    assert.equal(over.status, 429);
    assert.ok(Number(over.headers.get("retry-after")) >= 1);
    assert.match(over.headers.get("ratelimit-policy") ?? "", /"jobs";q=10000;w=3600/);
    const body = await over.json();
    assert.equal(body.message, "Rate limit exceeded. Max 10000 jobs per 3600s");
    assert.equal(body.error, "Too many requests");
    assert.ok(body.retryAfter >= 1);

    const replay = await postJobs(customer, { jobs }, { "idempotency-key": "part-3" }, url);
    assert.equal(replay.status, 202, "a replay costs nothing, so it is answered");
    await replay.body?.cancel();

    const { n } = first(
      await sql`
      select count(*)::int as n from public.jobs where customer_id = ${customer}`,
    );
    assert.equal(n, 10_000, "the refused request wrote nothing");
  } finally {
    await gateway.close();
    await sql`delete from public.jobs where customer_id = ${customer}`;
    await sql`delete from private.enqueue_batches where customer_id = ${customer}`;
    await sql.end();
    await sqs.send(new DeleteQueueCommand({ QueueUrl: scratch }));
    sqs.destroy();
  }
});

Deno.test("a burst of 300 POSTs from one API key, shipped settings: exactly the limit enqueued, the rest 429", async () => {
  const customer = uniqueCustomer("post-burst");
  const apiKey = await issueApiKey(customer);
  const url = `${stack.apiUrl}/functions/v1/queue/${customer}`;
  const started = performance.now();
  const answers = await Promise.all(Array.from({ length: 300 }, async (_, i) => {
    const res = await fetch(url, {
      method: "POST",
      headers: { "x-api-key": apiKey, ...JSON_TYPE },
      body: JSON.stringify(item(i)),
    });
    return { status: res.status, headers: res.headers, body: await res.json() };
  }));
  // The standard policy: 100 a minute per API key, one more every 0.6 s.
  const refilled = Math.floor((performance.now() - started) / 600);
  const admitted = answers.filter((a) => a.status === 202);
  const refused = answers.filter((a) => a.status === 429);
  assert.ok(
    admitted.length >= 100 && admitted.length <= 100 + refilled,
    `admitted ${admitted.length} of 100 + ${refilled}`,
  );
  assert.equal(refused.length, 300 - admitted.length, "the rest are 429: none shed, none failed");
  for (const a of refused) {
    assert.deepEqual(Object.keys(a.body), ["error", "code", "message", "retryAfter"]);
    assert.equal(a.body.message, "Rate limit exceeded. Max 100 requests per 60s");
    assert.equal(a.headers.get("retry-after"), String(a.body.retryAfter));
  }
  for (const a of admitted) {
    assert.match(
      a.headers.get("ratelimit-policy") ?? "",
      /^"standard";q=100;w=60, "jobs";q=10000;w=3600$/,
    );
    assert.match(a.headers.get("ratelimit") ?? "", /^"standard";r=\d+;t=\d+, "jobs";r=\d+;t=\d+$/);
  }
  const sql = connect(stack.dbUrl);
  try {
    const { jobs, rows } = first(
      await sql`
      select count(*)::int as jobs,
             (select count(*)::int from private.outbox o join public.jobs j on j.id = o.job_id
               where j.customer_id = ${customer}) as rows
        from public.jobs where customer_id = ${customer}`,
    );
    assert.equal(jobs, admitted.length, "one job per admitted POST, none for a refused one");
    assert.equal(rows, admitted.length);
  } finally {
    await sql.end();
  }
});

Deno.test("the same request sent 10 times at once, with a key: one set of jobs, every answer the same", async () => {
  const customer = uniqueCustomer("race");
  const jobs = Array.from({ length: 50 }, (_, i) => item(i));
  const bulks = await Promise.all(Array.from({ length: 10 }, async () => {
    const res = await postJobs(customer, { jobs }, { "idempotency-key": "same-batch" });
    assert.equal(res.status, 202);
    return ((await res.json()).jobs as { id: string }[]).map((j) => j.id).join();
  }));
  assert.equal(new Set(bulks).size, 1, "every answer names the same 50 jobs");
  const singles = await Promise.all(Array.from({ length: 10 }, async () => {
    const res = await postJobs(customer, item(7), { "idempotency-key": "same-job" });
    assert.equal(res.status, 202);
    return (await res.json()).job.id as string;
  }));
  assert.equal(new Set(singles).size, 1, "every answer names the same job");
  const sql = connect(stack.dbUrl);
  try {
    const { n } = first(
      await sql`
      select count(*)::int as n from public.jobs where customer_id = ${customer}`,
    );
    assert.equal(n, 51);
  } finally {
    await sql.end();
  }
});
