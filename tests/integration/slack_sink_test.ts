/** The stack's default SLACK_WEBHOOK_URL is a local sink that records what it is sent. */
import assert from "node:assert/strict";
import { join } from "node:path";
import { eventually, testStack } from "../_support/stack.ts";

Deno.test("a POST to SLACK_WEBHOOK_URL is answered ok, listed and written to slack.jsonl", async () => {
  const stack = testStack();
  const text = `sink test ${crypto.randomUUID()}`;
  const res = await fetch(stack.slackWebhookUrl, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ text }),
  });
  assert.equal(res.status, 200);
  assert.equal(await res.text(), "ok");
  const sinkUrl = new URL("/_sink/messages", stack.slackWebhookUrl);
  const list = await (await fetch(sinkUrl)).json();
  assert.ok(list.some((m: { body: { text: string } }) => m.body.text === text));
  await eventually("the message in slack.jsonl", () => {
    const file = Deno.readTextFileSync(join(stack.stateDir, "slack.jsonl"));
    return Promise.resolve(file.includes(text) ? true : undefined);
  });
});
