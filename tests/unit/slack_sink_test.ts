import assert from "node:assert/strict";
import { createSink, summarize } from "../../scripts/stack/slack_sink.ts";

const post = (body: unknown) =>
  new Request("http://sink/services/x", { method: "POST", body: JSON.stringify(body) });

Deno.test("createSink() records each POST and answers ok like Slack", async () => {
  const recorded: unknown[] = [];
  const sink = createSink((m) => recorded.push(m.body));
  const res = await sink.handle(post({ text: "DLQ has 3 messages" }));
  assert.equal(res.status, 200);
  assert.equal(await res.text(), "ok");
  assert.deepEqual(recorded, [{ text: "DLQ has 3 messages" }]);
  const list = await (await sink.handle(new Request("http://sink/_sink/messages"))).json();
  assert.equal(list.length, 1);
});

Deno.test("createSink() plays scripted failures in order, then succeeds", async () => {
  const sink = createSink();
  await sink.handle(
    new Request("http://sink/_sink/respond", {
      method: "POST",
      body: JSON.stringify({ statuses: [429, 500], retryAfter: 7 }),
    }),
  );
  const first = await sink.handle(post({ text: "a" }));
  assert.equal(first.status, 429);
  assert.equal(first.headers.get("retry-after"), "7");
  await first.body?.cancel();
  const second = await sink.handle(post({ text: "a" }));
  assert.equal(second.status, 500);
  await second.body?.cancel();
  const third = await sink.handle(post({ text: "a" }));
  assert.equal(third.status, 200);
  await third.body?.cancel();
});

Deno.test("createSink() refuses a body that is not JSON, as Slack does", async () => {
  const sink = createSink();
  const res = await sink.handle(
    new Request("http://sink/services/x", { method: "POST", body: "text=hi" }),
  );
  assert.equal(res.status, 400);
  assert.equal(await res.text(), "invalid_payload");
  assert.equal(sink.messages.length, 0);
});

Deno.test("summarize() prints the text fallback on one line", () => {
  assert.equal(summarize({ text: "two\nlines" }), "two lines");
  assert.equal(summarize({ blocks: [] }), '{"blocks":[]}');
});
