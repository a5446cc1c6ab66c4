/**
 * The outbox drain on the real stack: service-only, every due row sent to SQS once even when
 * two drains race, and pg_cron's path (request_dispatch → pg_net → dispatch) works.
 */
import assert from "node:assert/strict";
import { connect, eventually, first, testStack } from "../_support/stack.ts";
import { drainLanes, serviceHeaders, uniqueCustomer, userJwt } from "../_support/pipeline.ts";

const stack = testStack();
const dispatchUrl = `${stack.apiUrl}/functions/v1/dispatch`;

/** Jobs enqueued straight in SQL: their outbox rows wait for a drain. */
async function enqueueInSql(customer: string, n: number): Promise<string[]> {
  const sql = connect(stack.dbUrl);
  try {
    const rows = await sql`
      select (public.enqueue_job(${customer}, 1)).job_id::text as id from generate_series(1, ${n})`;
    return rows.map((r) => r.id as string);
  } finally {
    await sql.end();
  }
}

async function undelivered(jobIds: string[]): Promise<number> {
  const sql = connect(stack.dbUrl);
  try {
    return first(
      await sql`
      select count(*)::int as n from private.outbox
       where delivered_at is null and job_id = any(${jobIds}::uuid[])`,
    ).n;
  } finally {
    await sql.end();
  }
}

Deno.test("dispatch refuses anyone but the service role", async () => {
  for (
    const [headers, status] of [
      [{}, 401],
      [{ authorization: `Bearer ${stack.anonKey}` }, 403],
      [{ authorization: `Bearer ${await userJwt(stack, "acme")}` }, 403],
    ] as [Record<string, string>, number][]
  ) {
    const res = await fetch(dispatchUrl, { method: "POST", headers });
    assert.equal(res.status, status);
    await res.body?.cancel();
  }
});

Deno.test("two dispatch runs racing send every due row exactly once", async () => {
  await drainLanes(stack);
  const ids = await enqueueInSql(uniqueCustomer("race"), 45);
  const runs = await Promise.all(
    [1, 2].map(() => fetch(dispatchUrl, { method: "POST", headers: serviceHeaders(stack) })),
  );
  for (const res of runs) {
    assert.equal(res.status, 200);
    await res.body?.cancel();
  }
  // pg_cron's own minute run may have taken some rows too: that is fine, as long as every row
  // is delivered once in all.
  assert.equal(await undelivered(ids), 0);
  const bodies = await drainLanes(stack);
  const mine = bodies.map((b) => JSON.parse(b).job_id).filter((id) => ids.includes(id));
  assert.equal(mine.length, 45, "each job's message arrived");
  assert.equal(new Set(mine).size, 45, "and none twice");
});

Deno.test("pg_cron's path: request_dispatch() reaches dispatch through pg_net and Vault", async () => {
  await drainLanes(stack);
  const customer = uniqueCustomer("cron");
  const sql = connect(stack.dbUrl);
  let ids: string[] = [];
  try {
    // One transaction: the rows and the request become visible together, at commit.
    const request_id = await sql.begin(async (tx) => {
      const rows = await tx`
        select (public.enqueue_job(${customer}, 1)).job_id::text as id from generate_series(1, 3)`;
      ids = rows.map((r) => r.id as string);
      return first(await tx`select private.request_dispatch() as request_id`).request_id;
    });
    assert.ok(request_id, "a request was queued because rows were due");
    const response = await eventually("dispatch's answer", async () => {
      const rows =
        await sql`select status_code, content from net._http_response where id = ${request_id}`;
      return rows[0];
    }, 15_000);
    assert.equal(response.status_code, 200, String(response.content));
  } finally {
    await sql.end();
  }
  assert.equal(await undelivered(ids), 0);
  const bodies = await drainLanes(stack);
  assert.equal(bodies.filter((b) => ids.includes(JSON.parse(b).job_id)).length, 3);
});
