/**
 * The functions' SQL client: postgres.js over SUPABASE_DB_URL, created once per function
 * instance. prepare: false because hosted Supabase routes this URL through a transaction pooler.
 * Results come back as database.types.ts (generated from the migrations) describes them.
 */
// @deno-types="@types/pg"
import pg from "pg";
import postgres from "postgres";
import type { Database } from "./database.types.ts";

export type Sql = postgres.Sql;

type Functions<S extends keyof Database> = Database[S]["Functions"];

/** One row of what SQL function F of schema S returns, as the generated types describe it. */
export type FunctionRow<S extends keyof Database, F extends keyof Functions<S>> =
  Functions<S>[F] extends { Returns: infer R } ? R extends (infer E)[] ? E : R : never;

// The generated types describe what Supabase's REST API returns: timestamps as ISO strings and
// bigints as numbers. These parsers make postgres.js return the same, so the types hold.
const TIMESTAMPTZ = 1184;
const INT8 = 20;
const RESULT_TYPES = {
  isoTimestamp: {
    to: TIMESTAMPTZ,
    from: [TIMESTAMPTZ],
    serialize: (x: unknown) => x instanceof Date ? x.toISOString() : String(x),
    // 'infinity' and '-infinity' have no Date: they come back as Postgres writes them.
    parse: (x: string) => {
      const date = new Date(x);
      return Number.isNaN(date.getTime()) ? x : date.toISOString();
    },
  },
  // Ids and counts here stay far below 2^53.
  int8AsNumber: { to: INT8, from: [INT8], serialize: (x: unknown) => String(x), parse: Number },
};

export function createSql(url: string, options: { max?: number } = {}): Sql {
  return postgres(url, {
    prepare: false,
    max: options.max ?? 5,
    connect_timeout: 2,
    idle_timeout: 30,
    onnotice: () => {},
    types: RESULT_TYPES,
  });
}

/**
 * A node-postgres pool for the one query on every request's path, the rate-limit decision:
 * node-postgres sends an unnamed parameterized statement (pooler-safe) in one round trip where
 * postgres.js with prepare: false takes two. Measured in bench/ratelimit.ts.
 */
export function createPgPool(url: string, options: { max?: number } = {}): pg.Pool {
  const pool = new pg.Pool({
    connectionString: url,
    max: options.max ?? 5,
    connectionTimeoutMillis: 2_000,
    idleTimeoutMillis: 30_000,
  });
  // An idle connection that breaks (Postgres restarted) must not crash the function.
  pool.on(
    "error",
    (error) => console.warn(`database pool: idle connection lost: ${error.message}`),
  );
  return pool;
}
