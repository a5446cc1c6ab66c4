// Wiring only: config and the database client are built once per instance; see handler.ts.
import { createSql } from "../_shared/db.ts";
import { loadConfig } from "./config.ts";
import { handle } from "./handler.ts";

const config = loadConfig();
const sql = createSql(config.dbUrl, { max: 2 });
const startedAt = Date.now();

Deno.serve((req) =>
  handle(req, {
    pingDatabase: async () => {
      await sql`select 1`;
    },
    dbTimeoutMs: config.dbTimeoutMs,
    now: Date.now,
    startedAt,
  })
);
