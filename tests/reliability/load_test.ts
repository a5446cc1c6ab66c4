/**
 * Load: 20,000 requests at concurrency 100 across queue POST, queue GET and health, through the
 * local stack (gateway, function processes, Postgres, SQS). No 5xx; the rate limiter admits no
 * more than each client's limit plus what refilled; every accepted job is in the database.
 */
import assert from "node:assert/strict";
import { testStack } from "../_support/stack.ts";
import { assertAllStored, uniqueCustomer, userJwt } from "../_support/pipeline.ts";
import { percentiles, report } from "../_support/report.ts";

const stack = testStack();
const REQUESTS = 20_000;
const CONCURRENCY = 100;
const CUSTOMERS = 50;
// The standard preset the stack applies to queue and health: 100 per 60 s per client.
const LIMIT = 100;
const PERIOD_S = 60;

type Kind = "POST /queue" | "GET /queue" | "GET /health";

Deno.test("20,000 requests at concurrency 100: no 5xx, the limiter exact, nothing lost", async () => {
  const customers = Array.from({ length: CUSTOMERS }, () => uniqueCustomer("load"));
  const tokens = await Promise.all(customers.map((c) => userJwt(stack, c)));
  const latencies: Record<Kind, number[]> = {
    "POST /queue": [],
    "GET /queue": [],
    "GET /health": [],
  };
  const statuses = new Map<number, number>();
  const admitted = new Map<string, number>();
  const sent = new Map<string, number>();
  const accepted: string[] = [];
  let next = 0;
  const started = performance.now();
  await Promise.all(Array.from({ length: CONCURRENCY }, async () => {
    while (next < REQUESTS) {
      const i = next++;
      const c = Math.floor(Math.random() * CUSTOMERS);
      const kind: Kind = i % 4 === 0 ? "POST /queue" : i % 4 === 3 ? "GET /health" : "GET /queue";
      const client = kind === "GET /health" ? "health:127.0.0.1" : `queue:${customers[c]}`;
      const init: RequestInit = kind === "GET /health" ? {} : {
        method: kind === "POST /queue" ? "POST" : "GET",
        headers: { authorization: `Bearer ${tokens[c]}`, "content-type": "application/json" },
        body: kind === "POST /queue"
          ? JSON.stringify({ package_size: 1, priority_level: 0 })
          : undefined,
      };
      const url = kind === "GET /health"
        ? `${stack.apiUrl}/functions/v1/health`
        : `${stack.apiUrl}/functions/v1/queue/${customers[c]}${
          kind === "GET /queue" ? "?limit=5" : ""
        }`;
      const t = performance.now();
      const res = await fetch(url, init);
      const body = await res.text();
      latencies[kind].push(performance.now() - t);
      statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
      sent.set(client, (sent.get(client) ?? 0) + 1);
      if (res.status !== 429) admitted.set(client, (admitted.get(client) ?? 0) + 1);
      if (res.status === 202) accepted.push(JSON.parse(body).job.id);
    }
  }));
  const seconds = (performance.now() - started) / 1000;

  const serverErrors = [...statuses].filter(([s]) => s >= 500);
  assert.deepEqual(serverErrors, [], "no 5xx");
  assert.deepEqual(
    [...statuses.keys()].filter((s) => ![200, 202, 429].includes(s)),
    [],
    JSON.stringify([...statuses]),
  );
  // GCRA: the burst, then one more per PERIOD/LIMIT. Nobody gets more, and a client that sent
  // at least LIMIT requests got at least LIMIT.
  const ceiling = LIMIT + Math.ceil((seconds * LIMIT) / PERIOD_S);
  for (const [client, n] of admitted) {
    assert.ok(n <= ceiling, `${client}: ${n} admitted, at most ${ceiling} allowed`);
    assert.ok(
      n >= Math.min(LIMIT, sent.get(client)!),
      `${client}: ${n} admitted of ${sent.get(client)}`,
    );
  }

  await assertAllStored(stack, accepted);

  report({
    scenario: "Load: 20,000 requests, concurrency 100",
    claim:
      "No 5xx; every client (50 users on queue, one address on health) admitted at most its limit plus refill; every 202 job is in the database.",
    figures: {
      "throughput": `${(REQUESTS / seconds).toFixed(0)} requests/s (${seconds.toFixed(1)} s)`,
      "statuses": [...statuses].sort().map(([s, n]) => `${s}: ${n}`).join(", "),
      "POST /queue": percentiles(latencies["POST /queue"]),
      "GET /queue": percentiles(latencies["GET /queue"]),
      "GET /health": percentiles(latencies["GET /health"]),
      "rate limiter":
        `${admitted.size} clients, each admitted at most ${ceiling} (${LIMIT} + refill over ${
          seconds.toFixed(0)
        } s); none over it`,
      "jobs accepted / found in the database": `${accepted.length} / ${accepted.length}`,
    },
  });
});
