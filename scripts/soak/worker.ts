/**
 * A soak worker process: the shipped runtime (runWorker, configured from env vars like any
 * worker) around the soak's handler. Hanging attempts outlast the configured job timeout
 * (the soak sets JOB_TIMEOUT_SECONDS low: its jobs take at most 2 s).
 */
import { loadConfig } from "../../worker/config.ts";
import { runWorker } from "../../worker/mod.ts";
import { soakHandler } from "./handler.ts";

const config = loadConfig();
await runWorker(soakHandler({ jobMs: 2_000, hangMs: 2 * config.jobTimeoutMs }), { config });
