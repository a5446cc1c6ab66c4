/**
 * Priority lanes on the real stack: each job's message goes to its lane's queue (jobs-high, jobs,
 * jobs-low) when enqueued, dispatched, recovered or redriven; a real worker completes every lane;
 * health shows each lane's depth.
 */
import assert from "node:assert/strict";
import { connect, eventually, first, testStack } from "../_support/stack.ts";
import {
  drainLanes,
  drainQueue,
  serviceHeaders,
  startWorker,
  uniqueCustomer,
} from "../_support/pipeline.ts";
import { type Lane, laneQueueUrls, LANES } from "../../supabase/functions/_shared/lanes.ts";

const stack = testStack();
const urls = laneQueueUrls(stack.sqsQueueUrl);

/** Every lane drained: which lane each job id's message was in. */
async function laneOfEach(): Promise<Map<string, Lane>> {
  const found = new Map<string, Lane>();
  for (const lane of LANES) {
    for (const body of await drainQueue(stack, urls[lane])) {
      found.set(JSON.parse(body).job_id, lane);
    }
  }
  return found;
}

async function enqueue(customer: string, jobs: unknown[]): Promise<{ id: string; lane: string }[]> {
  const res = await fetch(`${stack.apiUrl}/functions/v1/queue/${customer}`, {
    method: "POST",
    headers: { ...serviceHeaders(stack), "content-type": "application/json" },
    body: JSON.stringify({ jobs }),
  });
  assert.equal(res.status, 202);
  return (await res.json()).jobs;
}

Deno.test("each job's message goes to its lane's queue, as enqueued and as recovered", async () => {
  await drainLanes(stack);
  const customer = uniqueCustomer("lanes");
  const jobs = await enqueue(customer, [
    { package_size: 1, priority_level: "enterprise" },
    { package_size: 1 },
    { package_size: 1, priority_level: 1 },
    { package_size: 1, priority_level: 7 },
  ]);
  assert.deepEqual(jobs.map((j) => j.lane), ["high", "default", "low", "high"]);
  const sent = await eventually("the four messages on SQS", async () => {
    const seen = await laneOfEach();
    return seen.size >= 4 ? seen : undefined;
  });
  assert.deepEqual(jobs.map((j) => sent.get(j.id)), ["high", "default", "low", "high"]);

  // A job taken back by stale recovery is sent again to its own lane.
  const sql = connect(stack.dbUrl);
  try {
    const [high] = jobs;
    const { lease } = first(
      await sql`
      select lease::text from public.claim_jobs(${[high!.id]}::uuid[], 'lane-test-worker')`,
    );
    assert.ok(lease);
    await sql`update public.jobs set leased_at = now() - interval '1 hour',
                                     heartbeat_at = now() - interval '1 hour'
               where id = ${high!.id}`;
    await sql`select * from public.recover_stale_jobs()`;
    const res = await fetch(`${stack.apiUrl}/functions/v1/dispatch`, {
      method: "POST",
      headers: serviceHeaders(stack),
    });
    assert.equal(res.status, 200);
    await res.body?.cancel();
    const again = await laneOfEach();
    assert.equal(again.get(high!.id), "high", "recovered into jobs-high");
  } finally {
    await sql.end();
  }
});

Deno.test("the bands are plain SQL: a new band applies to jobs enqueued after it", async () => {
  const sql = connect(stack.dbUrl);
  try {
    await sql`update private.priority_lanes set min_level = 5 where name = 'high'`;
    const [pro] = await enqueue(uniqueCustomer("band"), [{
      package_size: 1,
      priority_level: "pro",
    }]);
    assert.equal(pro!.lane, "high", "pro (5) is in the high band now");
  } finally {
    await sql`update private.priority_lanes set min_level = 7 where name = 'high'`;
    await sql.end();
  }
  await drainLanes(stack);
});

Deno.test("a worker completes jobs of every lane, and health shows each lane's depth", async () => {
  await drainLanes(stack);
  const customer = uniqueCustomer("lanes-run");
  const health = async () => {
    const res = await fetch(`${stack.apiUrl}/functions/v1/health`, {
      headers: serviceHeaders(stack),
    });
    return (await res.json()).services.queue;
  };
  const jobs = await enqueue(customer, [
    { package_size: 1, priority_level: 9 },
    { package_size: 1, priority_level: 9 },
    { package_size: 1 },
    { package_size: 1, priority_level: 0 },
  ]);
  const queued = await eventually("health to count the messages per lane", async () => {
    const queue = await health();
    return queue.lanes.high === 2 && queue.lanes.default === 1 && queue.lanes.low === 1
      ? queue
      : undefined;
  });
  assert.equal(queued.depth, 4);

  const worker = startWorker(stack, { HANDLER_DURATION_MS: "10" });
  const sql = connect(stack.dbUrl);
  try {
    await eventually("every lane's job to complete", async () => {
      const [row] = await sql`
        select count(*)::int as n from public.jobs
         where id = any(${jobs.map((j) => j.id)}::uuid[]) and status = 'completed'`;
      return row!.n === 4 ? true : undefined;
    }, 20_000);
    const after = await eventually("the lanes to empty", async () => {
      const queue = await health();
      return queue.depth === 0 ? queue : undefined;
    });
    assert.deepEqual(after.lanes, { high: 0, default: 0, low: 0 });
  } finally {
    await sql.end();
    await worker.stop();
  }
});
