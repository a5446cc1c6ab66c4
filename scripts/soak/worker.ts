/**
 * A soak worker process: the shipped runtime (runWorker, configured from env vars like any
 * worker) around the soak's handler. The soak's jobs take at most a few seconds, so it sets
 * JOB_TIMEOUT_SECONDS low (the default is 30 minutes) and hanging attempts outlast it.
 */
import { numberEnv } from "../../supabase/functions/_shared/config.ts";
import { runWorker } from "../../worker/mod.ts";
import { soakHandler } from "./handler.ts";

const env = Deno.env.toObject();
const timeoutSeconds = numberEnv(env, "soak worker", "JOB_TIMEOUT_SECONDS", 10, {
  min: 1,
  max: 600,
});
await runWorker(
  soakHandler({ jobMs: 2_000, hangMs: 2 * timeoutSeconds * 1000 }),
);
