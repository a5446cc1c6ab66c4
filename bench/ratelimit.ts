/**
 * Rate limiters side by side, in one run, on the same Postgres, at the same concurrency:
 * (a) ours as the functions ship it: private.rate_limit() (GCRA), decisions batched per call
 *     (at most LIMITER_CONNECTIONS calls in flight on a pool of that size), refusals remembered;
 * (a1) ours with one SQL call per request (no batching), for reference;
 * (b) the old design: count the key's rows in the window, insert a row, delete old rows;
 * (c) rate-limiter-flexible's RateLimiterPostgres (fixed window, upsert per request), with
 *     unnamed statements as the functions must send them (Supabase's transaction pooler does
 *     not support prepared statements), and, for reference, as shipped (named statements,
 *     prepared once per connection: possible only on a direct or session-mode connection).
 * Workloads: mostly admitted and abusive (90% refused), on one hot key and on 10,000 keys.
 * Also: how many requests each admits in a 500-request concurrent burst against a limit of 100.
 */
// @deno-types="@types/pg"
import pg from "pg";
import { RateLimiterPostgres } from "rate-limiter-flexible";
import { sha256Hex } from "../supabase/functions/_shared/auth.ts";
import { createDb } from "../supabase/functions/_shared/db.ts";
import {
  type Limiter,
  sqlLimiter,
  withRefusalCache,
} from "../supabase/functions/_shared/ratelimit/limiter.ts";
import {
  databaseLimiter,
  LIMITER_CONNECTIONS,
} from "../supabase/functions/_shared/ratelimit/setup.ts";
import { type Figure, percentilePoints, summarize } from "./stats.ts";

const CONCURRENCY = 20;
const ROUNDS = 3;

interface Contender {
  name: string;
  /** A fresh limiter allowing `limit` per 60 s per key; decide() says admitted or not. */
  make(limit: number, namespace: string): Promise<(key: string) => Promise<boolean>>;
}

function limiterContender(name: string, limiter: Limiter): Contender {
  return {
    name,
    make(limit, namespace) {
      return Promise.resolve(async (key) => {
        const hash = sha256Hex(`${namespace}:${key}`);
        const [d] = await limiter.check([{ key: hash, limit, periodMs: 60_000, failMode: "open" }]);
        return d!.allowed;
      });
    },
  };
}

function countThenInsert(pool: pg.Pool): Contender {
  return {
    name: "(b) old design (count, insert, delete)",
    async make(limit, namespace) {
      await pool.query(`create unlogged table if not exists bench_old_rate_limit (
                          id bigserial primary key, key text not null,
                          created_at timestamptz not null default now())`);
      await pool.query(`create index if not exists bench_old_rate_limit_key
                          on bench_old_rate_limit (key, created_at)`);
      return async (key) => {
        const k = `${namespace}:${key}`;
        const { rows } = await pool.query<{ n: number }>(
          `select count(*)::int as n from bench_old_rate_limit
            where key = $1 and created_at > now() - interval '60 seconds'`,
          [k],
        );
        if (rows[0]!.n >= limit) return false;
        await pool.query(`insert into bench_old_rate_limit (key) values ($1)`, [k]);
        await pool.query(
          `delete from bench_old_rate_limit
            where key = $1 and created_at < now() - interval '60 seconds'`,
          [k],
        );
        return true;
      };
    },
  };
}

function flexible(pool: pg.Pool, prepared: boolean): Contender {
  // Without the statement names it gives, node-postgres sends each query unnamed (unprepared).
  const unnamed = {
    query: (q: { text: string; values?: unknown[] }) => pool.query(q.text, q.values),
  };
  return {
    name: prepared
      ? "(c') rate-limiter-flexible, named statements (not through a transaction pooler)"
      : "(c) rate-limiter-flexible RateLimiterPostgres",
    async make(limit, namespace) {
      const limiter = await new Promise<RateLimiterPostgres>((resolve, reject) => {
        const l: RateLimiterPostgres = new RateLimiterPostgres({
          storeClient: prepared ? pool : unnamed,
          storeType: "pool",
          tableName: "bench_rlflx",
          points: limit,
          duration: 60,
          keyPrefix: namespace,
          clearExpiredByTimeout: false,
        }, (error?: Error) => error ? reject(error) : resolve(l));
      });
      return async (key) => {
        try {
          await limiter.consume(key);
          return true;
        } catch (error) {
          if (error instanceof Error) throw error;
          return false; // a RateLimiterRes: refused
        }
      };
    },
  };
}

interface Result {
  perSecond: number;
  p50: number;
  p99: number;
  admitted: number;
  latencies: number[];
}

async function run(decide: (key: string) => Promise<boolean>, keys: string[]): Promise<Result> {
  const latencies: number[] = [];
  let next = 0;
  let admitted = 0;
  const started = performance.now();
  await Promise.all(Array.from({ length: CONCURRENCY }, async () => {
    while (next < keys.length) {
      const key = keys[next++]!;
      const t = performance.now();
      if (await decide(key)) admitted++;
      latencies.push(performance.now() - t);
    }
  }));
  const seconds = (performance.now() - started) / 1000;
  const { p50, p99 } = summarize(latencies);
  return { perSecond: keys.length / seconds, p50, p99, admitted, latencies };
}

function shuffled(n: number, keyCount: number): string[] {
  const keys = Array.from({ length: n }, (_, i) => `k${i % keyCount}`);
  for (let i = keys.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [keys[i], keys[j]] = [keys[j]!, keys[i]!];
  }
  return keys;
}

export async function rateLimitFigures(dbUrl: string): Promise<Figure[]> {
  // Configured as the functions are: no prepared statements (hosted goes through a pooler).
  const pool = createDb(dbUrl, { max: CONCURRENCY });
  // As shipped: the limiter's own pool, batched calls (see _shared/ratelimit/setup.ts).
  const limiterPool = createDb(dbUrl, { max: LIMITER_CONNECTIONS });
  const contenders = [
    limiterContender(
      `(a) this limiter as shipped (GCRA, batched, ${LIMITER_CONNECTIONS} connections)`,
      databaseLimiter(limiterPool),
    ),
    limiterContender(
      "(a1) this limiter, one SQL call per request",
      withRefusalCache(sqlLimiter(pool)),
    ),
    countThenInsert(pool),
    flexible(pool, false),
    flexible(pool, true),
  ];
  const figures: Figure[] = [];
  try {
    // name, keys, requests, limit per key: admitted ≈ all; abusive ≈ 10% admitted.
    const workloads: [string, number, number, number][] = [
      ["admitted, 1 hot key", 1, 10_000, 1_000_000],
      ["admitted, 10k keys", 10_000, 10_000, 1_000_000],
      ["abusive (90% refused), 1 hot key", 1, 10_000, 1_000],
      ["abusive (90% refused), 10k keys", 10_000, 100_000, 1],
    ];
    for (const [label, keyCount, requests, limit] of workloads) {
      // Three interleaved rounds, median of each: this machine's figures swing between runs.
      const results = new Map<Contender, Result[]>(contenders.map((c) => [c, []]));
      for (let round = 0; round < ROUNDS; round++) {
        for (const contender of contenders) {
          const namespace = `${label}:${crypto.randomUUID()}`;
          const decide = await contender.make(limit, namespace);
          await run(decide, shuffled(200, keyCount).map((k) => `warm-${k}`));
          results.get(contender)!.push(await run(decide, shuffled(requests, keyCount)));
        }
      }
      const median = new Map(contenders.map((c) => {
        const sorted = results.get(c)!.toSorted((x, y) => x.perSecond - y.perSecond);
        return [c, sorted[Math.floor(sorted.length / 2)]!];
      }));
      for (const [contender, result] of median) {
        figures.push({
          name: `${contender.name}: ${label}`,
          value: `${result.perSecond.toFixed(0)}/s, p50 ${result.p50.toFixed(1)} ms, p99 ${
            result.p99.toFixed(1)
          } ms, admitted ${(100 * result.admitted / requests).toFixed(0)}%`,
          // Spread-out admitted traffic is the chart: every contender decides in the database.
          ...(label === "admitted, 10k keys"
            ? { points: percentilePoints("ratelimit-latency", contender.name, result.latencies) }
            : {}),
        });
      }
      const [a, a1, , c, cPrepared] = contenders.map((x) => median.get(x)!.perSecond);
      const abusive = label.startsWith("abusive");
      // Issue #14's targets: 1.2x on spread-out admitted traffic, 3x on abusive traffic.
      const target = abusive ? 3 : label.includes("10k") ? 1.2 : 1;
      figures.push({
        name: `(a) / (c) decisions per second, medians of ${ROUNDS}: ${label}`,
        value: `${(a! / c!).toFixed(2)}x`,
        target: `>= ${target}x`,
        met: a! / c! >= target,
      }, {
        name: `(a1) / (c), one call per request, for reference: ${label}`,
        value: `${(a1! / c!).toFixed(2)}x`,
      }, {
        name: `(a) / (c') for reference (c' cannot run behind a transaction pooler): ${label}`,
        value: `${(a! / cPrepared!).toFixed(2)}x`,
      });
    }
    for (const contender of contenders) {
      const decide = await contender.make(100, `burst:${crypto.randomUUID()}`);
      const outcomes = await Promise.all(Array.from({ length: 500 }, () => decide("hot")));
      const admitted = outcomes.filter(Boolean).length;
      figures.push({
        name: `${contender.name}: admitted of 500 concurrent, limit 100`,
        value: `${admitted} (over-admitted ${admitted - 100})`,
        target: contender === contenders[0] ? "exactly 100" : undefined,
        met: contender === contenders[0] ? admitted === 100 : undefined,
      });
    }
  } finally {
    await pool.query("drop table if exists bench_old_rate_limit");
    await pool.query("drop table if exists bench_rlflx");
    await pool.end();
    await limiterPool.end();
  }
  return figures;
}
