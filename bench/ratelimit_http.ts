/**
 * The rate limiter through HTTP (gateway, function process, database), in one run:
 * - a 500-request burst from one client with the shipped settings (the bench stack's own huge
 *   limits do not apply here), on 1 and on 4 instances of the function: admitted against the
 *   limit plus what refilled meanwhile, and the latency of admitted and refused answers;
 * - decisions per second at concurrency 100, admitted and abusive (90% refused), on one key and
 *   on 10,000 keys, beside the same path without a decision (OPTIONS, which the limiter lets
 *   through), the ceiling of this machine's HTTP path.
 * Clients are told apart by X-Forwarded-For, with RATE_LIMIT_CLIENT_IP=xff:2 (one trusted proxy
 * in front of the gateway), since every request here comes from 127.0.0.1.
 */
import postgres from "postgres";
import { startExtraGateway } from "../scripts/stack/extra_gateway.ts";
import { type Figure, summarize } from "./stats.ts";

const CONCURRENCY = 100;

interface Answer {
  status: number;
  ms: number;
}

async function send(url: string, init: RequestInit): Promise<Answer> {
  const started = performance.now();
  const res = await fetch(url, init);
  await res.body?.cancel();
  return { status: res.status, ms: performance.now() - started };
}

function address(i: number): string {
  return `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;
}

async function burstFigures(
  stateDir: string,
  dbUrl: string,
  instances: number,
): Promise<Figure[]> {
  // With the shipped settings every caller here is 127.0.0.1: start from a full bucket.
  const sql = postgres(dbUrl, { max: 1, onnotice: () => {} });
  await sql`delete from private.rate_limits`.finally(() => sql.end());
  const gw = await startExtraGateway(stateDir, {
    instances,
    // The shipped settings: the bench stack's raised limit is taken away.
    env: { RATE_LIMIT_PRESET_STANDARD: undefined },
    prestart: ["health"],
  });
  try {
    const url = `${gw.url}/functions/v1/health/live`;
    const started = performance.now();
    const answers = await Promise.all(Array.from({ length: 500 }, () => send(url, {})));
    const refilled = Math.floor((performance.now() - started) / 600);
    const admitted = answers.filter((a) => a.status === 200);
    const refused = answers.filter((a) => a.status === 429);
    const shed = answers.length - admitted.length - refused.length;
    const ok = admitted.length >= 100 && admitted.length <= 100 + refilled && shed === 0;
    const latency = (list: Answer[]) => {
      const { p50, p99 } = summarize(list.map((a) => a.ms));
      return `${p50.toFixed(1)} / ${p99.toFixed(1)} ms`;
    };
    return [{
      name:
        `HTTP 500-burst, one client, shipped limit 100/60 s, ${instances} instance(s): admitted`,
      value: `${admitted.length} (limit 100 + ${refilled} refilled; ${shed} shed or failed)`,
      target: "limit + refill, none shed",
      met: ok,
    }, {
      name: `HTTP 500-burst, ${instances} instance(s): p50 / p99 admitted; refused`,
      value: `${latency(admitted)}; ${latency(refused)}`,
    }];
  } finally {
    await gw.close();
  }
}

/** Requests per second at CONCURRENCY, each to the client `clientOf(i)`. */
async function throughput(
  url: string,
  method: string,
  requests: number,
  clientOf: (i: number) => number,
): Promise<{ perSecond: number; admitted: number; other: number }> {
  let next = 0;
  let admitted = 0;
  let other = 0;
  const started = performance.now();
  await Promise.all(Array.from({ length: CONCURRENCY }, async () => {
    while (next < requests) {
      const i = next++;
      const { status } = await send(url, {
        method,
        headers: { "x-forwarded-for": address(clientOf(i)) },
      });
      if (status === 200 || status === 405) admitted++;
      else if (status !== 429) other++;
    }
  }));
  return { perSecond: requests / ((performance.now() - started) / 1000), admitted, other };
}

async function decisionFigures(stateDir: string): Promise<Figure[]> {
  // name, requests, keys, limit per hour per key: admitted ≈ all; abusive ≈ 10% admitted.
  const workloads: [string, number, number, string][] = [
    ["admitted, 1 key", 10_000, 1, "100000000/3600"],
    ["admitted, 10k keys", 10_000, 10_000, "100000000/3600"],
    ["abusive (90% refused), 1 key", 10_000, 1, "1000/3600"],
    ["abusive (90% refused), 10k keys", 100_000, 10_000, "1/3600"],
  ];
  const figures: Figure[] = [];
  let ceiling: number | undefined;
  for (const [label, requests, keys, limit] of workloads) {
    const gw = await startExtraGateway(stateDir, {
      env: { RATE_LIMIT_PRESET_STANDARD: limit, RATE_LIMIT_CLIENT_IP: "xff:2" },
      prestart: ["health"],
    });
    try {
      const url = `${gw.url}/functions/v1/health/live`;
      // Each workload its own clients: a bucket spent by one does not refuse the next.
      const base = figures.length * 100_000;
      if (ceiling === undefined) {
        ceiling = (await throughput(url, "OPTIONS", 10_000, (i) => i)).perSecond;
        figures.push({
          name:
            `HTTP ceiling: OPTIONS /health (same path, no decision), concurrency ${CONCURRENCY}`,
          value: `${ceiling.toFixed(0)}/s`,
        });
      }
      const result = await throughput(url, "GET", requests, (i) => base + (i % keys));
      figures.push({
        name: `HTTP decisions per second, concurrency ${CONCURRENCY}: ${label}`,
        value: `${result.perSecond.toFixed(0)}/s (${
          (result.perSecond / ceiling).toFixed(2)
        }x the ceiling), admitted ${(100 * result.admitted / requests).toFixed(0)}%${
          result.other ? `, ${result.other} shed or failed` : ""
        }`,
      });
    } finally {
      await gw.close();
    }
  }
  return figures;
}

export async function httpRateLimitFigures(stateDir: string, dbUrl: string): Promise<Figure[]> {
  return [
    ...await burstFigures(stateDir, dbUrl, 1),
    ...await burstFigures(stateDir, dbUrl, 4),
    ...await decisionFigures(stateDir),
  ];
}
