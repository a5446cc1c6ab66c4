/**
 * Before `supabase db push`, a local database is checked against supabase/migrations: a version
 * it applied that no longer exists there (migrations folded into others, as happened before the
 * first deploy) or whose file changed since, cannot be migrated forward; `db push` would fail
 * deep inside, or silently leave the old definitions in place. Hosted databases never meet this:
 * once deployed, migrations are immutable and changes come as new ones.
 */
import { join } from "node:path";
import type postgres from "postgres";

export interface AppliedMigration {
  version: string;
  name: string | null;
  /** The statements the Supabase CLI ran, as it split the file. */
  statements: string[] | null;
}

/** Whitespace and statement separators do not count: the CLI splits the file on them. */
function normalized(sql: string): string {
  return sql.replace(/[\s;]+/g, "");
}

/** One line per applied migration that the local files no longer match, saying how. */
export function staleMigrations(
  applied: AppliedMigration[],
  files: { name: string; text: string }[],
): string[] {
  const byVersion = new Map(files.map((f) => [f.name.split("_")[0]!, f]));
  return applied.flatMap((m) => {
    const label = `${m.version}${m.name ? `_${m.name}` : ""}`;
    const file = byVersion.get(m.version);
    if (!file) return [`${label} was applied but supabase/migrations no longer has it`];
    if (m.statements && normalized(m.statements.join("")) !== normalized(file.text)) {
      return [`${label} was applied, and ${file.name} has changed since`];
    }
    return [];
  });
}

export function migrationFiles(root: string): { name: string; text: string }[] {
  const dir = join(root, "supabase", "migrations");
  return [...Deno.readDirSync(dir)].filter((e) => e.name.endsWith(".sql"))
    .map((e) => ({ name: e.name, text: Deno.readTextFileSync(join(dir, e.name)) }))
    .sort((a, b) => a.name.localeCompare(b.name));
}

export async function appliedMigrations(
  sql: postgres.Sql | postgres.TransactionSql,
): Promise<AppliedMigration[]> {
  const [table] = await sql<{ exists: boolean }[]>`
    select to_regclass('supabase_migrations.schema_migrations') is not null as exists`;
  if (!table?.exists) return [];
  return await sql<AppliedMigration[]>`
    select version, name, statements from supabase_migrations.schema_migrations order by version`;
}
