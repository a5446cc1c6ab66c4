/**
 * The functions' SQL client: postgres.js over SUPABASE_DB_URL, created once per function
 * instance. prepare: false because hosted Supabase routes this URL through a transaction pooler.
 */
// @deno-types="@types/pg"
import pg from "pg";
import postgres from "postgres";

export type Sql = postgres.Sql;

export function createSql(url: string, options: { max?: number } = {}): Sql {
  return postgres(url, {
    prepare: false,
    max: options.max ?? 5,
    connect_timeout: 2,
    idle_timeout: 30,
    onnotice: () => {},
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
