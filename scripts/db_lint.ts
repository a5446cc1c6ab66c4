/**
 * `deno task lint:db`: the Supabase CLI's database linter (plpgsql_check) over every schema the
 * migrations create, on a fresh database of the test profile. Any warning fails.
 */
import { dbUrl } from "./stack/postgres.ts";
import { profile } from "./stack/profile.ts";
import { startStack } from "./stack/stack.ts";
import { supabase } from "./stack/supabase_cli.ts";
import { stopProfile } from "./stop.ts";

const p = profile("test");
await stopProfile(p);
await Deno.remove(p.stateDir, { recursive: true }).catch(() => {});
const stack = await startStack(p, { only: "database" });
let code = 1;
try {
  const result = await supabase(
    ["db", "lint", `--remote=${dbUrl(p)}`, "--level", "warning", "--fail-on", "warning"],
    p.root,
  );
  console.log(result.stdout.trim());
  if (result.stderr) console.error(result.stderr);
  code = result.code;
} finally {
  await stack.stop();
}
console.log(code === 0 ? "db lint: no findings" : "db lint: findings above");
Deno.exit(code);
