/**
 * Bursts through the real HTTP path (gateway, function processes, database) with the shipped
 * rate-limit settings: no deadline shortened, no pool enlarged. On 1, 2 and 4 instances of each
 * function, as hosted scales out, a burst admits exactly the limit plus what refills while it is
 * under way (one request per 0.6 s at 100 per minute), never more, and sheds nothing.
 */
import assert from "node:assert/strict";
import { startExtraGateway } from "../../scripts/stack/extra_gateway.ts";
import { userJwt } from "../_support/pipeline.ts";
import { connect, testStack } from "../_support/stack.ts";

const stack = testStack();

async function burst(url: string, n: number, headers: HeadersInit = {}): Promise<number[]> {
  return await Promise.all(Array.from({ length: n }, async () => {
    const res = await fetch(url, { headers });
    await res.body?.cancel();
    return res.status;
  }));
}

const count = (statuses: number[], status: number) => statuses.filter((s) => s === status).length;

/**
 * Admitted (answered `admitted` by the function) is the limit, plus at most what refilled since
 * `started`; every other answer is a 429 (none shed, none failed).
 */
function assertExactly(
  statuses: number[],
  admitted: number,
  limit: number,
  periodMs: number,
  started: number,
  what: string,
): void {
  const refilled = Math.floor((performance.now() - started) / (periodMs / limit));
  const got = count(statuses, admitted);
  assert.ok(
    got >= limit && got <= limit + refilled,
    `${what}: admitted ${got} of ${limit} + ${refilled} refilled`,
  );
  assert.equal(count(statuses, 429), statuses.length - got, `${what}: the rest are 429`);
}

/** Every bucket full again: bursts here start from nothing spent. */
async function fullBuckets(): Promise<void> {
  const sql = connect(stack.dbUrl);
  try {
    await sql`delete from private.rate_limits`;
  } finally {
    await sql.end();
  }
}

async function apiKeys(n: number): Promise<{ customer: string; key: string }[]> {
  const sql = connect(stack.dbUrl);
  try {
    const keys = [];
    for (let i = 0; i < n; i++) {
      const customer = `burst-${crypto.randomUUID().slice(0, 8)}`;
      const [row] = await sql<{ api_key: string }[]>`
        select api_key from private.issue_api_key(${customer}, 'burst test')`;
      keys.push({ customer, key: row!.api_key });
    }
    return keys;
  } finally {
    await sql.end();
  }
}

for (const instances of [1, 2, 4]) {
  Deno.test(`${instances} instance(s), shipped settings: 500-request bursts on health and queue admit the limit`, async () => {
    await fullBuckets();
    const gw = await startExtraGateway(stack.stateDir, {
      instances,
      prestart: ["health", "queue"],
    });
    try {
      const fn = (path: string) => `${gw.url}/functions/v1/${path}`;
      let started = performance.now();
      assertExactly(
        await burst(fn("health/live"), 500),
        200,
        100,
        60_000,
        started,
        "health, anonymous",
      );

      // The service key has its own policy on health too (10,000 per minute): all 500 pass.
      const service = await burst(fn("health/live"), 500, {
        authorization: `Bearer ${stack.serviceRoleKey}`,
      });
      assert.equal(count(service, 200), 500, "health, service role");

      // Without credentials, what passes the limiter reaches the function, which answers 401.
      started = performance.now();
      assertExactly(
        await burst(fn("queue/anyone"), 500),
        401,
        100,
        60_000,
        started,
        "queue, anonymous",
      );

      const customer = `burst-${crypto.randomUUID().slice(0, 8)}`;
      const token = await userJwt(stack, customer);
      started = performance.now();
      assertExactly(
        await burst(fn(`queue/${customer}`), 500, { authorization: `Bearer ${token}` }),
        200,
        100,
        60_000,
        started,
        "queue, a user",
      );
    } finally {
      await gw.close();
    }
  });

  Deno.test(`${instances} instance(s): 2,000 requests at once over 20 clients give each exactly its limit`, async () => {
    await fullBuckets();
    // 100 requests each against a limit of 50 (a preset override): over-admission would show.
    const gw = await startExtraGateway(stack.stateDir, {
      instances,
      env: { RATE_LIMIT_PRESET_STANDARD: "50/60" },
      prestart: ["queue"],
    });
    try {
      const clients = await apiKeys(20);
      const started = performance.now();
      const perClient = await Promise.all(
        clients.map(({ customer, key }) =>
          burst(`${gw.url}/functions/v1/queue/${customer}`, 100, { "x-api-key": key })
        ),
      );
      perClient.forEach((statuses, i) =>
        assertExactly(statuses, 200, 50, 60_000, started, `API-key client ${i}`)
      );
    } finally {
      await gw.close();
    }
  });

  Deno.test(`${instances} instance(s): limits 1, 3 and 10, set through the preset override, hold under a burst`, async () => {
    for (const limit of [1, 3, 10]) {
      await fullBuckets();
      const gw = await startExtraGateway(stack.stateDir, {
        instances,
        env: { RATE_LIMIT_PRESET_STANDARD: `${limit}/60` },
        prestart: ["health"],
      });
      try {
        const started = performance.now();
        const statuses = await burst(`${gw.url}/functions/v1/health/live`, 100);
        assertExactly(statuses, 200, limit, 60_000, started, `limit ${limit}`);
      } finally {
        await gw.close();
      }
    }
  });
}
