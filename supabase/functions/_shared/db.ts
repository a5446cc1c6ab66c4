/**
 * The functions' SQL client: postgres.js over SUPABASE_DB_URL, created once per function
 * instance. prepare: false because hosted Supabase routes this URL through a transaction pooler.
 */
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
