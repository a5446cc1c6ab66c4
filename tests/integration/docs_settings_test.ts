/** docs/configuration.md lists every column of private.settings with its real default. */
import assert from "node:assert/strict";
import { join } from "node:path";
import { projectRoot } from "../../scripts/stack/profile.ts";
import { connect, testStack } from "../_support/stack.ts";

const stack = testStack();

Deno.test("every database setting is documented with the default the migrations give it", async () => {
  const doc = await Deno.readTextFile(join(projectRoot, "docs", "configuration.md"));
  const sql = connect(stack.dbUrl);
  try {
    const columns = await sql<{ name: string; value: string | null }[]>`
      select column_name as name, column_default as value from information_schema.columns
       where table_schema = 'private' and table_name = 'settings'
         and column_name not in ('id', 'updated_at')`;
    assert.ok(columns.length >= 13);
    for (const { name, value: raw } of columns) {
      // A text default ('starter'::text) is documented as the bare word.
      // No default is documented as null.
      const value = (raw ?? "null").replace(/^'(.*)'::text$/, "$1");
      const row = new RegExp(`^\\| \`${name}\` +\\| ${value} +\\|`, "m");
      assert.match(doc, row, `${name} (default ${value}) in docs/configuration.md`);
    }
  } finally {
    await sql.end();
  }
});
