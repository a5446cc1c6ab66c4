import assert from "node:assert/strict";
import { type DispatchDeps, handle } from "../../supabase/functions/dispatch/handler.ts";
import type { DrainResult } from "../../supabase/functions/_shared/outbox.ts";

function deps(results: DrainResult[], calls: { n: number }): DispatchDeps {
  return {
    serviceKeys: ["svc"],
    drainOnce: () => {
      calls.n++;
      return Promise.resolve(results.shift() ?? { taken: 0, sent: 0, failed: 0 });
    },
    budgetMs: 10_000,
    now: Date.now,
  };
}

const post = (headers: Record<string, string> = { authorization: "Bearer svc" }) =>
  new Request("http://x/dispatch", { method: "POST", headers });

Deno.test("dispatch drains until nothing is due and reports the counts", async () => {
  const calls = { n: 0 };
  const res = await handle(
    post(),
    deps([{ taken: 100, sent: 100, failed: 0 }, { taken: 3, sent: 3, failed: 0 }], calls),
  );
  assert.equal(res.status, 200);
  assert.deepEqual(await res.json(), { sent: 103, failed: 0 });
  assert.equal(calls.n, 3);
});

Deno.test("dispatch stops at the first refusal from SQS (the rows back off)", async () => {
  const calls = { n: 0 };
  const res = await handle(
    post(),
    deps([{ taken: 10, sent: 0, failed: 10 }, { taken: 5, sent: 5, failed: 0 }], calls),
  );
  assert.deepEqual(await res.json(), { sent: 0, failed: 10 });
  assert.equal(calls.n, 1);
});

Deno.test("dispatch is for the service role only", async () => {
  const calls = { n: 0 };
  const none = await handle(post({}), deps([], calls));
  assert.equal(none.status, 401);
  const user = await handle(post({ authorization: "Bearer someone-else" }), deps([], calls));
  assert.equal(user.status, 403);
  assert.equal((await user.json()).code, "forbidden");
  await none.body?.cancel();
  const get = await handle(new Request("http://x/dispatch"), deps([], calls));
  assert.equal(get.status, 405);
  assert.equal(get.headers.get("allow"), "POST");
  await get.body?.cancel();
  assert.equal(calls.n, 0, "nothing was drained");
});

Deno.test("dispatch stops taking batches when its time budget is spent", async () => {
  const calls = { n: 0 };
  let clock = 0;
  const d = deps(Array.from({ length: 50 }, () => ({ taken: 100, sent: 100, failed: 0 })), calls);
  d.now = () => clock;
  d.budgetMs = 250;
  const drain = d.drainOnce;
  d.drainOnce = () => {
    clock += 100;
    return drain();
  };
  const res = await handle(post(), d);
  assert.deepEqual(await res.json(), { sent: 300, failed: 0 });
});
