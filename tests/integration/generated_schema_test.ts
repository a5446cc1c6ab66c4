/**
 * supabase/schema.sql must be the schema the migrations build, exactly; and the check `deno task
 * start` runs before `supabase db push` must pass on a database the CLI migrated, and catch one
 * that applied a migration the files no longer have.
 */
import assert from "node:assert/strict";
import { generateSchema, SCHEMA_FILE } from "../../scripts/gen_schema.ts";
import {
  appliedMigrations,
  migrationFiles,
  staleMigrations,
} from "../../scripts/stack/migrations.ts";
import { projectRoot } from "../../scripts/stack/profile.ts";
import { connect, testStack } from "../_support/stack.ts";

const stack = testStack();

Deno.test("supabase/schema.sql matches what gen:schema makes of the migrations", async () => {
  const generated = await generateSchema(stack.dbUrl);
  const committed = await Deno.readTextFile(SCHEMA_FILE);
  assert.ok(
    generated === committed,
    "supabase/schema.sql is out of date: run deno task gen:schema",
  );
  assert.match(committed, /CREATE FUNCTION public\.recover_stale_jobs\(\)/, "it holds live bodies");
  assert.match(committed, /SELECT cron\.schedule\('recover-stale-jobs'/, "and the cron jobs");
});

Deno.test("staleMigrations() finds nothing wrong with what supabase db push applied", async () => {
  const sql = connect(stack.dbUrl);
  try {
    const applied = await appliedMigrations(sql);
    assert.equal(applied.length, migrationFiles(projectRoot).length, "every file was applied");
    assert.deepEqual(staleMigrations(applied, migrationFiles(projectRoot)), []);
  } finally {
    await sql.end();
  }
});

Deno.test("staleMigrations() names a version the database applied that no file has", async () => {
  const sql = connect(stack.dbUrl);
  try {
    await sql.begin(async (tx) => {
      await tx`insert into supabase_migrations.schema_migrations (version, name, statements)
               values ('20261122193000', 'rate_limit_lock_time', array['select 1'])`;
      assert.deepEqual(staleMigrations(await appliedMigrations(tx), migrationFiles(projectRoot)), [
        "20261122193000_rate_limit_lock_time was applied but supabase/migrations no longer has it",
      ]);
      throw new Undo();
    }).catch((error) => {
      if (!(error instanceof Undo)) throw error;
    });
  } finally {
    await sql.end();
  }
});

class Undo extends Error {}
