/**
 * `deno task apikey`: issue, list and revoke the queue API's keys. A key is printed once, when
 * issued; the database keeps only its SHA-256 hash.
 *
 *   deno task apikey issue <customerId> [--name <label>]
 *   deno task apikey list [<customerId>]
 *   deno task apikey revoke <keyId>
 *
 * Uses the running local stack's database, or DB_URL when set (e.g. a hosted project's).
 */
import postgres from "postgres";
import { profileFromArgs } from "./stack/profile.ts";
import { runningStackEnv } from "./stack/running.ts";

const USAGE = `Usage:
  deno task apikey issue <customerId> [--name <label>]
  deno task apikey list [<customerId>]
  deno task apikey revoke <keyId>`;

function fail(message: string): never {
  console.error(message);
  Deno.exit(2);
}

const [command, arg] = Deno.args;
const dbUrl = Deno.env.get("DB_URL") ?? runningStackEnv(profileFromArgs(Deno.args)).DB_URL;
const sql = postgres(dbUrl, { max: 1, onnotice: () => {} });
try {
  if (command === "issue" && arg) {
    const at = Deno.args.indexOf("--name");
    const name = at >= 0 ? Deno.args[at + 1] ?? "" : "";
    const [row] = await sql`select id::text, api_key from private.issue_api_key(${arg}, ${name})`;
    console.log(
      `Issued key ${row!.id} for customer ${arg}. Send it as x-api-key; it is shown only now:`,
    );
    console.log(row!.api_key);
  } else if (command === "list") {
    const rows = await sql`
      select id::text, customer_id, key_prefix, name, created_at, revoked_at
        from private.api_keys
       where ${arg ?? null}::text is null or customer_id = ${arg ?? null}
       order by created_at`;
    for (const r of rows) {
      const state = r.revoked_at ? `revoked ${r.revoked_at.toISOString()}` : "active";
      console.log(`${r.id}  ${r.customer_id}  ${r.key_prefix}…  ${r.name || "-"}  ${state}`);
    }
    if (rows.length === 0) console.log("No keys.");
  } else if (command === "revoke" && arg) {
    if (!/^[0-9a-f-]{36}$/.test(arg)) fail(`Cannot revoke: '${arg}' is not a key id (see: list)`);
    const [row] = await sql`select private.revoke_api_key(${arg}) as revoked`;
    console.log(row!.revoked ? `Revoked ${arg}.` : `No active key ${arg}.`);
  } else {
    fail(USAGE);
  }
} finally {
  await sql.end();
}
