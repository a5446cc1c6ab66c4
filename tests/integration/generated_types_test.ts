/** database.types.ts must describe the database the migrations build, exactly. */
import assert from "node:assert/strict";
import { generateTypes, TYPES_FILE } from "../../scripts/gen_types.ts";
import { testStack } from "../_support/stack.ts";

const stack = testStack();

Deno.test("database.types.ts matches what supabase gen types makes of the migrations", async () => {
  const generated = await generateTypes(stack.dbUrl);
  const committed = await Deno.readTextFile(TYPES_FILE);
  assert.ok(
    generated === committed,
    "supabase/functions/_shared/database.types.ts is out of date: run deno task gen:types",
  );
});
