/**
 * The pg_net stand-in and its runner, on the real stack: requests leave only after commit, carry
 * what SQL gave them, reach Edge Functions, and record their outcome like pg_net.
 */
import assert from "node:assert/strict";
import { connect, eventually, first, testStack } from "../_support/stack.ts";

interface Captured {
  marker: string;
  method: string;
  search: string;
  contentType: string | null;
  authorization: string | null;
  body: string;
}

async function withCapture(
  fn: (url: string, seen: Captured[]) => Promise<void>,
): Promise<void> {
  const seen: Captured[] = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, async (req) => {
    const url = new URL(req.url);
    if (url.pathname === "/slow") await new Promise((r) => setTimeout(r, 1_500));
    seen.push({
      marker: url.searchParams.get("marker") ?? "",
      method: req.method,
      search: url.search,
      contentType: req.headers.get("content-type"),
      authorization: req.headers.get("authorization"),
      body: await req.text(),
    });
    return Response.json({ received: true });
  });
  try {
    await fn(`http://127.0.0.1:${server.addr.port}`, seen);
  } finally {
    await server.shutdown();
  }
}

Deno.test("net.http_post sends body, params and headers after commit and records the response", async () => {
  const stack = testStack();
  const sql = connect(stack.dbUrl);
  try {
    await withCapture(async (url, seen) => {
      const { id } = first(
        await sql`
        select net.http_post(
          url := ${url + "/hook"},
          body := '{"job": 42}'::jsonb,
          params := '{"marker": "post-1"}'::jsonb,
          headers := '{"Content-Type": "application/json", "Authorization": "Bearer k"}'::jsonb
        ) as id`,
      );
      const request = await eventually(
        "the request to arrive",
        () => Promise.resolve(seen.find((r) => r.marker === "post-1")),
      );
      assert.equal(request.method, "POST");
      assert.equal(request.search, "?marker=post-1");
      assert.equal(request.contentType, "application/json");
      assert.equal(request.authorization, "Bearer k");
      assert.deepEqual(JSON.parse(request.body), { job: 42 });
      const [response] = await eventually("the response row", async () => {
        const rows = await sql`
          select status_code, content, timed_out, error_msg from net._http_response
           where id = ${id}`;
        return rows.length ? rows : undefined;
      });
      assert.equal(response?.status_code, 200);
      assert.deepEqual(JSON.parse(response?.content), { received: true });
      assert.equal(response?.timed_out, false);
    });
  } finally {
    await sql.end();
  }
});

Deno.test("net.http_post is not sent before commit, and never when rolled back", async () => {
  const stack = testStack();
  const sql = connect(stack.dbUrl);
  try {
    await withCapture(async (url, seen) => {
      await sql.begin(async (tx) => {
        await tx`select net.http_post(${url}, '{}'::jsonb, '{"marker": "held"}'::jsonb)`;
        // The runner polls every second: give it two chances to misbehave.
        await new Promise((r) => setTimeout(r, 2_200));
        assert.equal(seen.some((r) => r.marker === "held"), false, "sent before commit");
      });
      await eventually(
        "the committed request",
        () => Promise.resolve(seen.find((r) => r.marker === "held")),
      );

      await sql.begin(async (tx) => {
        await tx`select net.http_post(${url}, '{}'::jsonb, '{"marker": "rolled-back"}'::jsonb)`;
        throw new Error("roll back");
      }).catch(() => {});
      await sql`select net.http_post(${url}, '{}'::jsonb, '{"marker": "after"}'::jsonb)`;
      await eventually(
        "the later request",
        () => Promise.resolve(seen.find((r) => r.marker === "after")),
      );
      assert.equal(seen.some((r) => r.marker === "rolled-back"), false);
    });
  } finally {
    await sql.end();
  }
});

Deno.test("net.http_post records a timeout as pg_net does", async () => {
  const stack = testStack();
  const sql = connect(stack.dbUrl);
  try {
    await withCapture(async (url) => {
      const { id } = first(
        await sql`
        select net.http_post(${url + "/slow"}, timeout_milliseconds := 200) as id`,
      );
      const [row] = await eventually("the timeout to be recorded", async () => {
        const rows = await sql`
          select status_code, timed_out, error_msg from net._http_response where id = ${id}`;
        return rows.length ? rows : undefined;
      });
      assert.equal(row?.status_code, null);
      assert.equal(row?.timed_out, true);
      assert.match(row?.error_msg, /Timeout of 200 ms/);
      // Let the slow handler finish before the server shuts down.
      await new Promise((r) => setTimeout(r, 1_500));
    });
  } finally {
    await sql.end();
  }
});

Deno.test("net.http_post and net.http_get from SQL reach an Edge Function through the gateway", async () => {
  const stack = testStack();
  const sql = connect(stack.dbUrl);
  try {
    const health = `${stack.apiUrl}/functions/v1/health`;
    const { get_id, post_id } = first(
      await sql`
      select net.http_get(${health}) as get_id, net.http_post(${health}) as post_id`,
    );
    const rows = await eventually("both responses", async () => {
      const found = await sql`
        select id, status_code, content from net._http_response
         where id in (${get_id}, ${post_id}) order by id`;
      return found.length === 2 ? found : undefined;
    });
    const byId = new Map(rows.map((r) => [String(r.id), r]));
    const got = byId.get(String(get_id));
    assert.equal(got?.status_code, 200);
    assert.equal(JSON.parse(got?.content).services.database.status, "up");
    // The function itself answered the POST (its own 405), so the request got through.
    const posted = byId.get(String(post_id));
    assert.equal(posted?.status_code, 405);
    assert.equal(JSON.parse(posted?.content).code, "method_not_allowed");
  } finally {
    await sql.end();
  }
});

Deno.test("net functions are not callable by the API roles", async () => {
  const stack = testStack();
  const sql = connect(stack.dbUrl);
  try {
    for (const role of ["anon", "authenticated"]) {
      await assert.rejects(
        sql.begin(async (tx) => {
          await tx.unsafe(`set local role ${role}`);
          await tx`select net.http_post('http://127.0.0.1:9/')`;
        }),
        /permission denied/,
        role,
      );
    }
  } finally {
    await sql.end();
  }
});
