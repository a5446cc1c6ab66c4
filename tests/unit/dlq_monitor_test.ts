/** The DLQ monitor's pure parts: message, Slack answers, delivery pacing, redrive, walk, handler. */
import assert from "node:assert/strict";
import { parseArgs } from "../../scripts/dlq_redrive.ts";
import {
  type DeadLetter,
  type DeadLetterQueue,
  DlqBusy,
} from "../../supabase/functions/dlq-monitor/dlq.ts";
import {
  deliverAlerts,
  DELIVERY_LEASE_SECONDS,
} from "../../supabase/functions/dlq-monitor/delivery.ts";
import { handle } from "../../supabase/functions/dlq-monitor/handler.ts";
import {
  type AlertFacts,
  alertMessage,
  consoleUrl,
} from "../../supabase/functions/dlq-monitor/message.ts";
import { redriveDeadLetters } from "../../supabase/functions/dlq-monitor/redrive.ts";
import {
  classify,
  type PostToSlack,
  type SlackOutcome,
} from "../../supabase/functions/dlq-monitor/slack.ts";
import type {
  DeadLetterSummary,
  DueAlert,
  MonitorStore,
} from "../../supabase/functions/dlq-monitor/store.ts";

const QUEUE_URL = "https://sqs.eu-west-1.amazonaws.com/123456789012/jobs-dlq";

const SUMMARY: DeadLetterSummary = {
  recorded: 1200,
  byAction: { settled: 1150, resent_since: 40, not_a_job: 10 },
  customers: [{ customerId: "acme", letters: 1000 }, { customerId: "globex", letters: 190 }],
  examples: [
    {
      messageId: "m-1",
      jobId: "j-1",
      customerId: "acme",
      receiveCount: 4,
      action: "settled",
      error: "Dead-lettered (last error: Directory <rejected> & gone)",
    },
    {
      messageId: "m-2",
      jobId: null,
      customerId: null,
      receiveCount: 5,
      action: "not_a_job",
      error: null,
    },
  ],
};

/** An alert's facts for jobs-dlq, as the check gives them. */
const facts = (f: Partial<AlertFacts>): AlertFacts => ({
  kind: "dlq_triggered",
  queueName: "jobs-dlq",
  queueUrl: QUEUE_URL,
  region: "eu-west-1",
  depth: 1200,
  inFlight: 0,
  previousDepth: 0,
  summary: SUMMARY,
  ...f,
});

Deno.test("alertMessage() gives a flood in counts: per action, top customers, a few examples, and links the queue", () => {
  const message = alertMessage(facts({ inFlight: 2 }));
  assert.equal(
    message.text,
    ":rotating_light: Dead letters: 1,200 messages in jobs-dlq. 1,150 jobs marked failed; most from acme (1,000), globex (190)",
  );
  const blocks = JSON.stringify(message.blocks);
  assert.ok(blocks.includes("Recorded: 1,200 dead letters"));
  assert.ok(blocks.includes("1,150 jobs marked failed (dead-lettered)"));
  assert.ok(blocks.includes("40 left alone: the job was sent again since"));
  assert.ok(blocks.includes("10 are not job messages"));
  assert.ok(!blocks.includes("running"), "actions nobody took are not listed");
  assert.ok(blocks.includes("`acme` 1,000"));
  assert.ok(blocks.includes("Directory &lt;rejected&gt; &amp; gone"), "mrkdwn is escaped");
  assert.ok(blocks.includes("not a job message"));
  assert.ok(blocks.includes(JSON.stringify(consoleUrl(QUEUE_URL, "eu-west-1")).slice(1, -1)));
  assert.equal(
    consoleUrl(QUEUE_URL, "eu-west-1"),
    "https://eu-west-1.console.aws.amazon.com/sqs/v3/home?region=eu-west-1#/queues/https%3A%2F%2Fsqs.eu-west-1.amazonaws.com%2F123456789012%2Fjobs-dlq",
  );
});

Deno.test("alertMessage() says when fewer are recorded than the DLQ holds (a walk not done yet)", () => {
  const message = alertMessage(facts({
    depth: 6000,
    summary: { ...SUMMARY, recorded: 250, byAction: { settled: 250 } },
  }));
  assert.match(message.text, /250 jobs marked failed so far/);
  assert.ok(JSON.stringify(message.blocks).includes("Recorded so far: 250 of 6,000 dead letters"));
});

Deno.test("alertMessage() keeps every block within Slack's limits", () => {
  const message = alertMessage(facts({
    kind: "dlq_grew",
    depth: 5000,
    inFlight: 0,
    previousDepth: 10,
    summary: {
      ...SUMMARY,
      customers: [{ customerId: "c".repeat(5000), letters: 5000 }],
      examples: Array.from({ length: 3 }, (_, i) => ({
        messageId: `m-${i}`,
        jobId: `job-${i}`,
        customerId: "acme",
        receiveCount: 4,
        action: "settled" as const,
        error: "x".repeat(5000),
      })),
    },
  }));
  for (const block of message.blocks as { text?: { text: string } }[]) {
    if (block.text) assert.ok(block.text.text.length <= 3000);
  }
  assert.match(message.text, /went from 10 to 5,000/);
});

Deno.test("alertMessage() says resolved without listing jobs", () => {
  const message = alertMessage(facts({
    kind: "dlq_resolved",
    depth: 0,
    inFlight: 0,
    previousDepth: 3,
    summary: { recorded: 0, byAction: {}, customers: [], examples: [] },
  }));
  assert.equal(message.text, ":white_check_mark: Resolved: jobs-dlq is empty again");
});

Deno.test("classify() sorts Slack's answers: delivered, Retry-After, misconfigured, retry later", () => {
  assert.deepEqual(classify(200, "ok", null), { outcome: "delivered" });
  assert.deepEqual(classify(429, "rate_limited", "7"), {
    outcome: "rate_limited",
    retryAfterSeconds: 7,
    detail: "Slack webhook answered 429 rate_limited",
  });
  assert.equal((classify(429, "", "soon") as { retryAfterSeconds: number }).retryAfterSeconds, 30);
  for (const status of [400, 403, 404, 410]) {
    assert.equal(classify(status, "no_team", null).outcome, "misconfigured");
  }
  for (const status of [500, 502, 503, 418]) {
    assert.equal(classify(status, "", null).outcome, "failed");
  }
});

/** A store in memory, recording what delivery did. */
function fakeStore(
  alerts: DueAlert[],
  options: { notBefore?: number; taken?: boolean; dlqHeld?: boolean } = {},
) {
  const settled: [number, SlackOutcome["outcome"]][] = [];
  let released = 0;
  const store: MonitorStore = {
    now: () => Promise.reject(new Error("unused")),
    claimDlq: () => Promise.resolve(options.dlqHeld ? null : "lease-1"),
    releaseDlq: () => Promise.resolve(),
    recordDeadLetters: () => Promise.reject(new Error("unused")),
    finishCheck: () => Promise.reject(new Error("unused")),
    summary: () => Promise.resolve({ ...SUMMARY, examples: [] }),
    claimDelivery: () =>
      Promise.resolve(options.taken ? null : { notBefore: options.notBefore ?? 0 }),
    releaseDelivery: () => {
      released++;
      return Promise.resolve();
    },
    dueAlerts: (max) => Promise.resolve(alerts.slice(0, max)),
    settle: (id, result) => {
      settled.push([id, result.outcome]);
      return Promise.resolve();
    },
    redrive: () => Promise.reject(new Error("unused")),
  };
  return { store, settled, released: () => released };
}

function clock(start = 1_000_000) {
  let t = start;
  return {
    now: () => t,
    sleep: (ms: number) => {
      t += ms;
      return Promise.resolve();
    },
  };
}

const due = (id: number): DueAlert => ({
  id,
  kind: "dlq_triggered",
  message: { text: `alert ${id}`, blocks: [] },
});

function deliveryDeps(
  store: MonitorStore,
  post: PostToSlack,
  c = clock(),
  log: (line: string) => void = () => {},
) {
  return { store, post, maxAlerts: 10, leaseSeconds: 50, postTimeoutMs: 5_000, ...c, log };
}

Deno.test("deliverAlerts() posts at most one message per second, oldest first", async () => {
  const { store, settled, released } = fakeStore([due(1), due(2), due(3)]);
  const c = clock();
  const postedAt: number[] = [];
  const result = await deliverAlerts(deliveryDeps(store, () => {
    postedAt.push(c.now());
    return Promise.resolve({ outcome: "delivered" });
  }, c));
  assert.deepEqual(result, { delivered: 3 });
  assert.deepEqual(settled, [[1, "delivered"], [2, "delivered"], [3, "delivered"]]);
  assert.deepEqual(postedAt.map((t) => t - postedAt[0]!), [0, 1_000, 2_000]);
  assert.equal(released(), 1, "the right to send is given back");
});

Deno.test("deliverAlerts() waits for the pause the database holds (last post, Retry-After)", async () => {
  const c = clock();
  const { store } = fakeStore([due(1)], { notBefore: c.now() + 7_000 });
  let postedAt = 0;
  await deliverAlerts(deliveryDeps(store, () => {
    postedAt = c.now();
    return Promise.resolve({ outcome: "delivered" });
  }, c));
  assert.equal(postedAt, 1_007_000);
});

Deno.test("deliverAlerts() stops at the first failure and when another run is sending", async () => {
  const { store, settled } = fakeStore([due(1), due(2)]);
  const lines: string[] = [];
  const result = await deliverAlerts({
    store,
    post: () => Promise.resolve({ outcome: "rate_limited", retryAfterSeconds: 30, detail: "429" }),
    maxAlerts: 10,
    leaseSeconds: 50,
    postTimeoutMs: 5_000,
    ...clock(),
    log: (line) => lines.push(line),
  });
  assert.deepEqual(result, { delivered: 0, stoppedBy: "rate_limited" });
  assert.deepEqual(settled, [[1, "rate_limited"]]);
  assert.match(lines[0]!, /alert 1 \(dlq_triggered\) not delivered: 429/);

  const busy = fakeStore([due(1)], { taken: true });
  const none = await deliverAlerts(
    deliveryDeps(busy.store, () => Promise.reject(new Error("must not post"))),
  );
  assert.equal(none.delivered, 0);
  assert.equal(busy.released(), 0, "a lease it never took is not released");
});

Deno.test("deliverAlerts() holds the right to send for DELIVERY_LEASE_SECONDS, under the minute schedule", async () => {
  assert.ok(DELIVERY_LEASE_SECONDS < 60, "the next minute's run can take a crashed run's lease");
  const { store } = fakeStore([]);
  const leases: number[] = [];
  store.claimDelivery = (leaseSeconds) => {
    leases.push(leaseSeconds);
    return Promise.resolve({ notBefore: 0 });
  };
  const { leaseSeconds: _, ...defaults } = deliveryDeps(
    store,
    () => Promise.resolve({ outcome: "delivered" }),
  );
  await deliverAlerts(defaults);
  assert.deepEqual(leases, [DELIVERY_LEASE_SECONDS]);
});

Deno.test("deliverAlerts() by default really waits out the pause between posts", async () => {
  const notBefore = Date.now() + 30;
  const { store } = fakeStore([due(1)], { notBefore });
  let postedAt = 0;
  await deliverAlerts({
    store,
    post: () => {
      postedAt = Date.now();
      return Promise.resolve({ outcome: "delivered" });
    },
    maxAlerts: 10,
    postTimeoutMs: 5_000,
    now: Date.now,
    log: () => {},
  });
  assert.ok(postedAt >= notBefore, `posted ${notBefore - postedAt} ms early`);
});

function fakeDlq(
  messages: DeadLetter[],
): DeadLetterQueue & { deleted: string[]; shown: string[] } {
  const deleted: string[] = [];
  const shown: string[] = [];
  let next = 0;
  return {
    name: "jobs-dlq",
    url: QUEUE_URL,
    deleted,
    shown,
    depth: () => Promise.resolve({ visible: messages.length - deleted.length - next, inFlight: 0 }),
    peek: (max) => Promise.resolve(messages.slice(0, max)),
    receive: (max) => {
      const batch = messages.slice(next, next + max);
      next += batch.length;
      return Promise.resolve(batch);
    },
    setVisibility: (batch, seconds) => {
      assert.equal(seconds, 0);
      shown.push(...batch.map((m) => m.messageId));
      return Promise.resolve();
    },
    delete: (m) => {
      deleted.push(m.messageId);
      return Promise.resolve();
    },
  };
}

Deno.test("redriveDeadLetters() re-sends known jobs, deletes what it handled, leaves the rest", async () => {
  const letter = (i: number, jobId?: string): DeadLetter => ({
    messageId: `m${i}`,
    receiptHandle: `r${i}`,
    receiveCount: 4,
    jobId,
  });
  const dlq = fakeDlq([letter(1, "a"), letter(2), letter(3, "unknown"), letter(4, "b")]);
  const dispatched: number[][] = [];
  const store = fakeStore([]).store;
  store.redrive = (messageId, jobId) =>
    Promise.resolve(
      jobId === "unknown"
        ? { outcome: "unknown_job", outboxId: null }
        : messageId === "m4"
        ? { outcome: "already_redriven", outboxId: 40 }
        : { outcome: "requeued", outboxId: 10 },
    );
  const result = await redriveDeadLetters({
    dlq,
    store,
    dispatch: (ids) => {
      dispatched.push(ids);
      return Promise.resolve();
    },
    visibilitySeconds: 60,
    budgetMs: 10_000,
    now: Date.now,
  }, { limit: 100, dryRun: false });
  assert.deepEqual(result.moved, { requeued: 1, finished: 0, running: 0, already_redriven: 1 });
  assert.equal(result.skipped, 2);
  assert.deepEqual(dlq.deleted, ["m1", "m4"]);
  assert.deepEqual(dlq.shown, ["m2", "m3"], "what it leaves is visible again at once");
  assert.deepEqual(dispatched, [[10, 40]], "an earlier run's undelivered row is sent too");
});

Deno.test("redriveDeadLetters() waits its turn while a check walks the DLQ: DlqBusy, nothing moved", async () => {
  const dlq = fakeDlq([{ messageId: "m1", receiptHandle: "r1", receiveCount: 4, jobId: "a" }]);
  const store = fakeStore([], { dlqHeld: true }).store;
  store.redrive = () => Promise.reject(new Error("must not redrive"));
  await assert.rejects(
    redriveDeadLetters({
      dlq,
      store,
      dispatch: () => Promise.reject(new Error("must not dispatch")),
      visibilitySeconds: 60,
      budgetMs: 10_000,
      now: Date.now,
    }, { limit: 5, dryRun: false }),
    DlqBusy,
  );
  assert.deepEqual(dlq.deleted, []);
});

Deno.test("dlq-monitor/redrive answers 409 dlq_busy with Retry-After while a check walks", async () => {
  const res = await handle(
    request("/dlq-monitor/redrive", { body: "{}" }),
    deps({ redrive: () => Promise.reject(new DlqBusy("walking")) }),
  );
  assert.equal(res.status, 409);
  assert.equal(res.headers.get("retry-after"), "5");
  assert.equal((await res.json()).code, "dlq_busy");
});

Deno.test("redriveDeadLetters() in a dry run changes nothing", async () => {
  const dlq = fakeDlq([{ messageId: "m1", receiptHandle: "r1", receiveCount: 4, jobId: "a" }]);
  const store = fakeStore([]).store;
  const result = await redriveDeadLetters({
    dlq,
    store,
    dispatch: () => Promise.reject(new Error("must not dispatch")),
    visibilitySeconds: 60,
    budgetMs: 10_000,
    now: Date.now,
  }, { limit: 5, dryRun: true });
  assert.equal(result.dryRun, true);
  assert.deepEqual(result.sample, [{ messageId: "m1", jobId: "a", receiveCount: 4 }]);
  assert.deepEqual(result.recorded, { total: 1200, byAction: SUMMARY.byAction });
  assert.deepEqual(dlq.deleted, []);
});

const SERVICE = "service-key";

function deps(overrides: Partial<Parameters<typeof handle>[1]> = {}) {
  return {
    serviceKeys: [SERVICE],
    check: () =>
      Promise.resolve({
        depth: 0,
        inFlight: 0,
        read: 0,
        walked: true,
        actions: {},
        deadLettered: 0,
        pruned: 0,
        sqsCalls: 1,
        durationMs: 1,
        alert: null,
      }),
    deliver: () => Promise.resolve({ delivered: 0 }),
    redrive: () => Promise.reject(new Error("unexpected redrive")),
    log: () => {},
    ...overrides,
  };
}

const request = (path: string, init: RequestInit = {}) =>
  new Request(`http://localhost${path}`, {
    method: "POST",
    ...init,
    headers: { authorization: `Bearer ${SERVICE}`, ...init.headers },
  });

Deno.test("dlq-monitor refuses anyone but the service role, and other paths and methods", async () => {
  const noKey = await handle(
    new Request("http://localhost/dlq-monitor", { method: "POST" }),
    deps(),
  );
  assert.equal(noKey.status, 401);
  const user = await handle(
    request("/dlq-monitor", { headers: { authorization: "Bearer user-token" } }),
    deps(),
  );
  assert.equal(user.status, 403);
  assert.equal((await handle(request("/dlq-monitor", { method: "GET" }), deps())).status, 405);
  assert.equal((await handle(request("/dlq-monitor/purge"), deps())).status, 404);
});

Deno.test("dlq-monitor still delivers raised alerts when SQS cannot be checked", async () => {
  let delivered = false;
  const res = await handle(
    request("/dlq-monitor"),
    deps({
      check: () => Promise.reject(new Error("connect ECONNREFUSED 10.0.0.1:443")),
      deliver: () => {
        delivered = true;
        return Promise.resolve({ delivered: 1 });
      },
    }),
  );
  assert.equal(res.status, 503);
  const body = await res.json();
  assert.equal(body.code, "check_failed");
  assert.ok(!JSON.stringify(body).includes("10.0.0.1"), "no internal detail in the answer");
  assert.equal(delivered, true);
});

Deno.test("dlq-monitor/redrive validates its body and passes limit and dryRun on", async () => {
  for (
    const [body, code] of <[string, string][]> [
      ["{", "invalid_json"],
      ["[]", "invalid_body"],
      ['{"limit":0}', "invalid_limit"],
      ['{"limit":10001}', "invalid_limit"],
      ['{"limit":"5"}', "invalid_limit"],
      ['{"dryRun":1}', "invalid_dry_run"],
      ['{"purge":true}', "unknown_field"],
    ]
  ) {
    const res = await handle(request("/dlq-monitor/redrive", { body }), deps());
    assert.equal(res.status, 400, body);
    assert.equal((await res.json()).code, code, body);
  }
  let seen: unknown;
  const ok = await handle(
    request("/dlq-monitor/redrive", { body: '{"limit":5,"dryRun":true}' }),
    deps({
      redrive: (options) => {
        seen = options;
        return Promise.resolve({
          dryRun: true,
          moved: { requeued: 0, finished: 0, running: 0, already_redriven: 0 },
          skipped: 0,
          remaining: { visible: 0, inFlight: 0 },
        });
      },
    }),
  );
  assert.equal(ok.status, 200);
  assert.deepEqual(seen, { limit: 5, dryRun: true });
});

Deno.test("dlq:redrive's arguments: --limit N, --dry-run, and clear errors", () => {
  assert.deepEqual(parseArgs([]), { limit: 10_000, dryRun: false });
  assert.deepEqual(parseArgs(["--limit", "5", "--dry-run"]), { limit: 5, dryRun: true });
  assert.deepEqual(parseArgs(["--profile", "dev"]), { limit: 10_000, dryRun: false });
  assert.throws(() => parseArgs(["--limit", "0"]), /--limit must be a positive integer, got '0'/);
  assert.throws(() => parseArgs(["--limit"]), /--limit must be a positive integer/);
  assert.throws(() => parseArgs(["--force"]), /Unknown argument '--force'/);
});
