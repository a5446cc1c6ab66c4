/**
 * `deno task bench`: performance figures, on a local stack of its own (the `bench` profile),
 * printed beside their targets. Benchmarks are measurements, not tests: they never fail the
 * build, but a MISSED target is worth a look. It lives in bench/ (not scripts/) so that the
 * benchmarks use the stack's modules and scripts/ never imports bench/.
 */
import { join } from "node:path";
import { consoleFigures } from "./console.ts";
import { dlqFloodFigures, dlqToSlack } from "./dlq.ts";
import { healthFigures } from "./health.ts";
import { pipelineFigures } from "./pipeline.ts";
import { priorityFigures } from "./priority.ts";
import { workerFigures } from "./workers.ts";
import { rateLimitFigures } from "./ratelimit.ts";
import { httpRateLimitFigures } from "./ratelimit_http.ts";
import { crashToRequeue, sweepFigures } from "./stale.ts";
import { type Figure, markdownReport, report } from "./stats.ts";
import { drawBenchCharts } from "./charts.ts";
import { profile } from "../scripts/stack/profile.ts";
import { spawnService, waitUntil } from "../scripts/stack/process.ts";
import { type Stack, startStack, workerEnv } from "../scripts/stack/stack.ts";
import { stopProfile } from "../scripts/stop.ts";

const p = profile("bench");
// `deno task bench ratelimit` runs one group only (pipeline, workers, priority, stale, health,
// console, ratelimit, dlq).
const only = Deno.args[0];
const wanted = (group: string) => !only || only === group;
await stopProfile(p);
await Deno.remove(p.stateDir, { recursive: true }).catch(() => {});
console.log(`Starting the bench stack in ${p.stateDir}...`);
const stack: Stack = await startStack(p, { log: (line) => console.log(`• ${line}`) });

/**
 * Reference workers (an instant handler unless `env` says otherwise); resolves once each has said
 * it is ready.
 */
async function startWorkers(
  count: number,
  env: Record<string, string> = {},
): Promise<() => Promise<void>> {
  const ready = new Set<number>();
  const workers = Array.from(
    { length: count },
    (_, i) =>
      spawnService(`bench-worker-${i + 1}`, Deno.execPath(), {
        args: ["run", "-A", join(p.root, "worker", "main.ts")],
        env: {
          ...workerEnv(stack.env, `bench-worker-${i + 1}`),
          HANDLER_DURATION_MS: "0",
          ...env,
        },
        logDir: p.stateDir,
        onLine: (line) => line.includes("ready") && ready.add(i),
      }),
  );
  await waitUntil("bench workers", () => Promise.resolve(ready.size === count));
  return async () => {
    await Promise.all(workers.map((w) => w.stop()));
  };
}

const benchStarted = performance.now();
const figures: Figure[] = [];
try {
  if (wanted("pipeline")) {
    console.log("\njob pipeline...");
    figures.push(...await pipelineFigures(stack.env, p.stateDir, startWorkers));
  }
  if (wanted("workers")) {
    console.log("worker runtime...");
    figures.push(...await workerFigures(stack.env, startWorkers));
  }
  if (wanted("priority")) {
    console.log("priority lanes and the per-customer cap...");
    figures.push(...await priorityFigures(stack.env, startWorkers));
  }
  if (wanted("stale")) {
    console.log("stale-job sweep at 10k and 1M jobs...");
    figures.push(...await sweepFigures(stack.env));
  }
  if (wanted("health")) {
    console.log("health endpoint at 10k and 1M jobs...");
    figures.push(...await healthFigures(stack.env));
  }
  if (wanted("console")) {
    console.log("console-api reads at 10k and 1M jobs...");
    figures.push(...await consoleFigures(stack.env, p.stateDir));
  }
  if (wanted("ratelimit")) {
    console.log("rate limiters side by side...");
    figures.push(...await rateLimitFigures(stack.env.DB_URL));
    console.log("rate limiting through HTTP...");
    figures.push(...await httpRateLimitFigures(p.stateDir, stack.env.DB_URL));
  }
  if (wanted("dlq")) {
    console.log("DLQ to Slack with the minute schedule (takes up to 2 minutes)...");
    figures.push(...await dlqFloodFigures(stack.env));
    figures.push(...await dlqToSlack(stack.env));
  }
  if (wanted("stale")) {
    console.log("crash-to-requeue (takes up to 150 s)...");
    figures.push(
      ...await crashToRequeue(stack.env, async (env) => {
        const id = "bench-doomed";
        let ready = false;
        const worker = spawnService(id, Deno.execPath(), {
          args: ["run", "-A", join(p.root, "worker", "main.ts")],
          env: { ...workerEnv(stack.env, id), ...env },
          logDir: p.stateDir,
          onLine: (line) => {
            if (line.includes("ready")) ready = true;
          },
        });
        await waitUntil("the doomed worker", () => Promise.resolve(ready));
        return { id, kill: () => worker.stop("SIGKILL"), stop: () => worker.stop() };
      }),
    );
  }
} finally {
  await stack.stop();
}
console.log(`\n${report(figures)}`);
if (only) {
  // A group run's charts stay local; the published ones come from a full run.
  const dir = join(p.stateDir, "charts");
  const date = new Date().toISOString().slice(0, 10);
  if ((await drawBenchCharts(figures, dir, date)).length) console.log(`\ncharts in ${dir}`);
} else {
  // A full run is the published one.
  const out = join(p.root, "docs", "BENCHMARKS.md");
  const date = new Date().toISOString().slice(0, 10);
  const charts = await drawBenchCharts(figures, join(p.root, "docs", "bench"), date);
  Deno.writeTextFileSync(
    out,
    markdownReport(figures, {
      date,
      cpus: navigator.hardwareConcurrency,
      seconds: (performance.now() - benchStarted) / 1000,
    }, charts),
  );
  new Deno.Command(Deno.execPath(), { args: ["fmt", "--quiet", out] }).outputSync();
  console.log(`\nwrote ${out}`);
}
