import assert from "node:assert/strict";
import { join } from "node:path";
import { verifyJwtSetting } from "../../scripts/stack/functions_server.ts";

Deno.test("verifyJwtSetting() reads [functions.<slug>] and defaults to true like Supabase", () => {
  const dir = Deno.makeTempDirSync();
  try {
    const file = join(dir, "config.toml");
    Deno.writeTextFileSync(file, "[functions.open]\nverify_jwt = false\n[functions.closed]\n");
    assert.equal(verifyJwtSetting(file, "open"), false);
    assert.equal(verifyJwtSetting(file, "closed"), true);
    assert.equal(verifyJwtSetting(file, "unlisted"), true);
    assert.equal(verifyJwtSetting(join(dir, "missing.toml"), "any"), true);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});
