/**
 * `deno task worker`: the reference worker, running the simulated directory submission. Wiring
 * only: see run.ts for the process and worker.ts for the loop.
 */
import { loadConfig } from "./config.ts";
import { simulatedSubmission } from "./handlers.ts";
import { runWorker } from "./run.ts";

const config = loadConfig();
await runWorker(simulatedSubmission(config.handler), { config });
