/**
 * Rate limiters side by side, in one run, on the same Postgres, at the same concurrency:
 * (a) ours: private.rate_limit() (GCRA, one call);
 * (b) the old design: count the key's rows in the window, insert a row, delete old rows;
 * (c) rate-limiter-flexible's RateLimiterPostgres (fixed window, upsert per request).
 * Workloads: mostly admitted and abusive (90% refused), on one hot key and on 10,000 keys.
 * Also: how many requests each admits in a 500-request concurrent burst against a limit of 100.
 */
import postgres from "postgres";
import pg from "pg";
import { RateLimiterPostgres } from "rate-limiter-flexible";
import { sha256Hex } from "../supabase/functions/_shared/auth.ts";
import { sqlLimiter, withRefusalCache } from "../supabase/functions/_shared/ratelimit/limiter.ts";
import { type Figure, summarize } from "./stats.ts";

const CONCURRENCY = 20;

interface Contender {
  name: string;
  /** A fresh limiter allowing `limit` per 60 s per key; decide() says admitted or not. */
  make(limit: number, namespace: string): Promise<(key: string) => Promise<boolean>>;
}

function ours(sql: postgres.Sql): Contender {
  return {
    name: "(a) this limiter (GCRA, 1 SQL call)",
    make(limit, namespace) {
      // As the functions run it: the database decides, refusals are remembered until they lapse.
      const limiter = withRefusalCache(sqlLimiter(sql));
      return Promise.resolve(async (key) => {
        const hash = sha256Hex(`${namespace}:${key}`);
        const [d] = await limiter.check([{ key: hash, limit, periodMs: 60_000, failMode: "open" }]);
        return d!.allowed;
      });
    },
  };
}

function countThenInsert(sql: postgres.Sql): Contender {
  return {
    name: "(b) old design (count, insert, delete)",
    async make(limit, namespace) {
      await sql`create unlogged table if not exists bench_old_rate_limit (
                  id bigserial primary key, key text not null,
                  created_at timestamptz not null default now())`;
      await sql`create index if not exists bench_old_rate_limit_key
                  on bench_old_rate_limit (key, created_at)`;
      return async (key) => {
        const k = `${namespace}:${key}`;
        const [{ n }] = await sql`
          select count(*)::int as n from bench_old_rate_limit
           where key = ${k} and created_at > now() - interval '60 seconds'` as unknown as [
          { n: number },
        ];
        if (n >= limit) return false;
        await sql`insert into bench_old_rate_limit (key) values (${k})`;
        await sql`delete from bench_old_rate_limit
                   where key = ${k} and created_at < now() - interval '60 seconds'`;
        return true;
      };
    },
  };
}

function flexible(pool: pg.Pool): Contender {
  return {
    name: "(c) rate-limiter-flexible RateLimiterPostgres",
    async make(limit, namespace) {
      const limiter = await new Promise<RateLimiterPostgres>((resolve, reject) => {
        const l: RateLimiterPostgres = new RateLimiterPostgres({
          storeClient: pool,
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

async function run(
  decide: (key: string) => Promise<boolean>,
  keys: string[],
): Promise<{ perSecond: number; p50: number; p99: number; admitted: number }> {
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
  return { perSecond: keys.length / seconds, p50, p99, admitted };
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
  const sql = postgres(dbUrl, { max: CONCURRENCY, prepare: false, onnotice: () => {} });
  const pool = new pg.Pool({ connectionString: dbUrl, max: CONCURRENCY });
  const contenders = [ours(sql), countThenInsert(sql), flexible(pool)];
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
      const rates: Record<string, number> = {};
      for (const contender of contenders) {
        const namespace = `${label}:${crypto.randomUUID()}`;
        const decide = await contender.make(limit, namespace);
        await run(decide, shuffled(200, keyCount).map((k) => `warm-${k}`));
        const result = await run(decide, shuffled(requests, keyCount));
        rates[contender.name] = result.perSecond;
        figures.push({
          name: `${contender.name}: ${label}`,
          value: `${result.perSecond.toFixed(0)}/s, p50 ${result.p50.toFixed(1)} ms, p99 ${
            result.p99.toFixed(1)
          } ms, admitted ${(100 * result.admitted / requests).toFixed(0)}%`,
        });
      }
      const ratio = rates[contenders[0]!.name]! / rates[contenders[2]!.name]!;
      const abusive = label.startsWith("abusive");
      figures.push({
        name: `(a) / (c) decisions per second: ${label}`,
        value: `${ratio.toFixed(2)}x`,
        target: abusive ? ">= 1.5x" : ">= 1x",
        met: ratio >= (abusive ? 1.5 : 1),
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
    await sql`drop table if exists bench_old_rate_limit`;
    await sql`drop table if exists bench_rlflx`;
    await sql.end();
    await pool.end();
  }
  return figures;
}
