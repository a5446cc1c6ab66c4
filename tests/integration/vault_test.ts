/** The Vault stand-in mirrors the calls the migrations make, and stays closed to API roles. */
import assert from "node:assert/strict";
import { connect, first, testStack } from "../_support/stack.ts";

Deno.test("vault.create_secret() stores a secret that vault.decrypted_secrets returns by name", async () => {
  const sql = connect(testStack().dbUrl);
  const name = `test_secret_${crypto.randomUUID()}`;
  try {
    const { id } = first(await sql`select vault.create_secret('s3cr3t', ${name}, 'a test') as id`);
    assert.match(String(id), /^[0-9a-f-]{36}$/);
    const [row] = await sql`
      select decrypted_secret, description from vault.decrypted_secrets where name = ${name}`;
    assert.equal(row?.decrypted_secret, "s3cr3t");
    assert.equal(row?.description, "a test");
    await sql`select vault.update_secret(${id}, 'rotated')`;
    const [after] = await sql`
      select decrypted_secret from vault.decrypted_secrets where id = ${id}`;
    assert.equal(after?.decrypted_secret, "rotated");
    await assert.rejects(
      sql`select vault.create_secret('other', ${name})`,
      /duplicate key/,
      "names are unique, as in Vault",
    );
  } finally {
    await sql`delete from vault.secrets where name = ${name}`;
    await sql.end();
  }
});

Deno.test("vault secrets are hidden from anon, authenticated and service_role", async () => {
  const sql = connect(testStack().dbUrl);
  try {
    for (const role of ["anon", "authenticated", "service_role"]) {
      await assert.rejects(
        sql.begin(async (tx) => {
          await tx.unsafe(`set local role ${role}`);
          await tx`select * from vault.decrypted_secrets`;
        }),
        /permission denied/,
        role,
      );
    }
  } finally {
    await sql.end();
  }
});
