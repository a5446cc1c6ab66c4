// Wiring only: config and the database client are built once per instance; see handler.ts.
import { createSql } from "../_shared/db.ts";
import { withRateLimit } from "../_shared/ratelimit/middleware.ts";
import { rateLimitFromEnv } from "../_shared/ratelimit/setup.ts";
import { loadConfig } from "./config.ts";
import { handle } from "./handler.ts";

const config = loadConfig();
const sql = createSql(config.dbUrl, { max: 2 });
const startedAt = Date.now();

Deno.serve(withRateLimit(
  (req) =>
    handle(req, {
      pingDatabase: async () => {
        await sql`select 1`;
      },
      dbTimeoutMs: config.dbTimeoutMs,
      now: Date.now,
      startedAt,
    }),
  rateLimitFromEnv(Deno.env.toObject(), "health", sql),
));
