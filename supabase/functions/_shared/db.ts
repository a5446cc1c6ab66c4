/**
 * The functions' database client: one node-postgres pool per function instance over
 * SUPABASE_DB_URL. Why node-postgres:
 * - it sends an unnamed parameterized statement in one round trip, which works behind
 *   Supabase's transaction pooler (no prepared statements); postgres.js without prepared
 *   statements takes two for any query with parameters (measured in bench/ratelimit.ts);
 * - postgres.js 3.4.9 can crash the whole process when Postgres restarts (a write scheduled
 *   with setImmediate runs on a closed socket: porsager/postgres#1154, #1208, unfixed), which
 *   the reliability suite's Postgres restart reproduced. A broken pg connection is an 'error'
 *   event we handle, and the query rejects.
 * Results come back as database.types.ts (generated from the migrations) describes them.
 */
// @deno-types="@types/pg"
import pg from "pg";
import type { Database } from "./database.types.ts";

export type Db = pg.Pool;
/** The pool, or one connection inside a transaction. */
export type DbClient = pg.Pool | pg.PoolClient;

type Functions<S extends keyof Database> = Database[S]["Functions"];

/** One row of what SQL function F of schema S returns, as the generated types describe it. */
export type FunctionRow<S extends keyof Database, F extends keyof Functions<S>> =
  Functions<S>[F] extends { Returns: infer R } ? R extends (infer E)[] ? E : R : never;

// The generated types describe what Supabase's REST API returns: timestamps as ISO strings and
// bigints as numbers. These parsers make the pool return the same, so the types hold.
const TIMESTAMPTZ = 1184;
const INT8 = 20;

function isoTimestamp(text: string): string {
  const date = new Date(text);
  // 'infinity' and '-infinity' have no Date: they come back as Postgres writes them.
  return Number.isNaN(date.getTime()) ? text : date.toISOString();
}

const RESULT_TYPES: pg.CustomTypesConfig = {
  getTypeParser: ((oid: number, format?: string) => {
    if (oid === TIMESTAMPTZ) return isoTimestamp;
    // Ids and counts here stay far below 2^53.
    if (oid === INT8) return Number;
    return pg.types.getTypeParser(oid, format as "text");
  }) as pg.CustomTypesConfig["getTypeParser"],
};

export function createDb(
  url: string,
  options: {
    max?: number;
    /**
     * Give up on a statement after this long: the server cancels it (SQLSTATE 57014); a second
     * later the client drops the connection ("Query read timeout"), for a network that lost it
     * and would otherwise hold the pool slot until TCP gives up, minutes later. Default: none.
     */
    queryTimeoutMs?: number;
  } = {},
): Db {
  const pool = new pg.Pool({
    connectionString: url,
    max: options.max ?? 5,
    connectionTimeoutMillis: 2_000,
    idleTimeoutMillis: 30_000,
    keepAlive: true,
    ...(options.queryTimeoutMs
      ? {
        statement_timeout: options.queryTimeoutMs,
        query_timeout: options.queryTimeoutMs + 1_000,
      }
      : {}),
    types: RESULT_TYPES,
  });
  // An idle connection that breaks (Postgres restarted) must not crash the function.
  pool.on(
    "error",
    (error) => console.warn(`database pool: idle connection lost: ${error.message}`),
  );
  return pool;
}

/** The rows of one parameterized statement, typed as the caller says (see database.types.ts). */
export async function query<T>(db: DbClient, text: string, values: unknown[] = []): Promise<T[]> {
  return (await db.query(text, values)).rows as T[];
}

/** Runs fn in one transaction on one connection: committed if it returns, rolled back if not. */
export async function transaction<T>(
  db: Db,
  fn: (client: pg.PoolClient) => Promise<T>,
): Promise<T> {
  const client = await db.connect();
  let broken: Error | undefined;
  // Between statements (e.g. while the outbox waits for SQS) a checked-out connection reports a
  // server going away as an 'error' event; unheard, it would end the process.
  const onError = (error: Error) => {
    broken = error;
  };
  client.on("error", onError);
  try {
    await client.query("begin");
    const result = await fn(client);
    await client.query("commit");
    return result;
  } catch (error) {
    await client.query("rollback").catch((rollbackError) => {
      // The connection itself failed: it must not go back to the pool.
      broken = rollbackError as Error;
    });
    throw error;
  } finally {
    client.off("error", onError);
    client.release(broken);
  }
}
