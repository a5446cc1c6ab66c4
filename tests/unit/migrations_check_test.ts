import assert from "node:assert/strict";
import { staleMigrations } from "../../scripts/stack/migrations.ts";

const files = [
  { name: "20261122150000_base.sql", text: "-- base\ncreate table a (id int);\nselect 1;\n" },
  { name: "20261122160000_more.sql", text: "create table b (id int);\n" },
];

Deno.test("staleMigrations() accepts a database that applied the files as they are", () => {
  assert.deepEqual(
    staleMigrations([
      {
        version: "20261122150000",
        name: "base",
        statements: ["-- base\ncreate table a (id int)", "\nselect 1"],
      },
      { version: "20261122160000", name: "more", statements: ["create table b (id int)"] },
    ], files),
    [],
  );
});

Deno.test("staleMigrations() names a version applied that no file has any more", () => {
  assert.deepEqual(
    staleMigrations(
      [{ version: "20261122155000", name: "folded", statements: ["select 2"] }],
      files,
    ),
    ["20261122155000_folded was applied but supabase/migrations no longer has it"],
  );
});

Deno.test("staleMigrations() names a file changed since it was applied", () => {
  assert.deepEqual(
    staleMigrations([
      { version: "20261122160000", name: "more", statements: ["create table b (id bigint)"] },
    ], files),
    ["20261122160000_more was applied, and 20261122160000_more.sql has changed since"],
  );
});
