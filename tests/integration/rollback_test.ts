/**
 * Every migration has a rollback (supabase/rollbacks/<migration>.down.sql). Run newest first,
 * in one transaction on the test database, they must remove everything the migrations made;
 * the migrations must then apply again and rebuild exactly the same schema. The transaction is
 * rolled back, so the test database is left as it was.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import postgres from "postgres";
import { projectRoot } from "../../scripts/stack/profile.ts";
import { testStack } from "../_support/stack.ts";

const stack = testStack();
const migrationsDir = join(projectRoot, "supabase", "migrations");
const rollbacksDir = join(projectRoot, "supabase", "rollbacks");

const migrations = [...Deno.readDirSync(migrationsDir)].map((e) => e.name)
  .filter((n) => n.endsWith(".sql")).sort();

class Undo extends Error {}

async function fingerprint(tx: postgres.TransactionSql): Promise<string[]> {
  const rows = await tx<{ x: string }[]>`
    select format('function %s.%s(%s)', n.nspname, p.proname,
                  pg_get_function_identity_arguments(p.oid)) as x
      from pg_proc p join pg_namespace n on n.oid = p.pronamespace
     where n.nspname in ('public', 'private')
    union all
    select format('column %s.%s.%s %s %s', table_schema, table_name, column_name, data_type,
                  coalesce(column_default, ''))
      from information_schema.columns where table_schema in ('public', 'private')
    union all
    select format('index %s.%s', schemaname, indexname)
      from pg_indexes where schemaname in ('public', 'private')
    union all
    select format('type %s.%s', n.nspname, t.typname)
      from pg_type t join pg_namespace n on n.oid = t.typnamespace
     where n.nspname in ('public', 'private') and t.typtype = 'c'
       and not exists (select 1 from pg_class c where c.reltype = t.oid and c.relkind <> 'c')
    union all
    select format('trigger %s on %s: %s', t.tgname, t.tgrelid::regclass, pg_get_triggerdef(t.oid))
      from pg_trigger t join pg_class c on c.oid = t.tgrelid
      join pg_namespace n on n.oid = c.relnamespace
     where n.nspname in ('public', 'private') and not t.tgisinternal
    union all
    select format('view %s.%s %s', schemaname, viewname, definition)
      from pg_views where schemaname in ('public', 'private')
    union all
    select format('cron %s %s %s', jobname, schedule, command) from cron.job
    order by 1`;
  return rows.map((r) => r.x);
}

Deno.test("every migration has a rollback file", () => {
  for (const migration of migrations) {
    const down = migration.replace(/\.sql$/, ".down.sql");
    assert.ok(
      Deno.statSync(join(rollbacksDir, down)).isFile,
      `supabase/rollbacks/${down} is missing`,
    );
  }
});

Deno.test("the rollbacks, newest first, remove everything; the migrations then rebuild it exactly", async () => {
  const sql = postgres(stack.dbUrl, { max: 1, onnotice: () => {} });
  try {
    await sql.begin(async (tx) => {
      const before = await fingerprint(tx);
      assert.ok(before.some((x) => x.startsWith("function public.claim_job")), "sanity");
      for (const migration of migrations.toReversed()) {
        const down = migration.replace(/\.sql$/, ".down.sql");
        await tx.unsafe(await Deno.readTextFile(join(rollbacksDir, down)));
      }
      assert.deepEqual(await fingerprint(tx), [], "nothing of ours is left");
      for (const migration of migrations) {
        await tx.unsafe(await Deno.readTextFile(join(migrationsDir, migration)));
      }
      assert.deepEqual(await fingerprint(tx), before);
      throw new Undo();
    }).catch((error) => {
      if (!(error instanceof Undo)) throw error;
    });
  } finally {
    await sql.end();
  }
});
