/**
 * `deno task bench`: performance figures, on a local stack of its own (the `bench` profile),
 * printed beside their targets. Benchmarks are measurements, not tests: they never fail the
 * build, but a MISSED target is worth a look.
 */
import { join } from "node:path";
import { pipelineFigures } from "../bench/enqueue.ts";
import { type Figure, report } from "../bench/stats.ts";
import { profile } from "./stack/profile.ts";
import { spawnService, waitUntil } from "./stack/process.ts";
import { type Stack, startStack, workerEnv } from "./stack/stack.ts";
import { stopProfile } from "./stop.ts";

const p = profile("bench");
await stopProfile(p);
await Deno.remove(p.stateDir, { recursive: true }).catch(() => {});
console.log(`Starting the bench stack in ${p.stateDir}...`);
const stack: Stack = await startStack(p, { log: (line) => console.log(`• ${line}`) });

/** Reference workers with an instant handler; resolves once each has said it is ready. */
async function startWorkers(count: number): Promise<() => Promise<void>> {
  const ready = new Set<number>();
  const workers = Array.from(
    { length: count },
    (_, i) =>
      spawnService(`bench-worker-${i + 1}`, Deno.execPath(), {
        args: ["run", "-A", join(p.root, "worker", "main.ts")],
        env: { ...workerEnv(stack.env, `bench-worker-${i + 1}`), HANDLER_DURATION_MS: "0" },
        logDir: p.stateDir,
        onLine: (line) => line.includes("ready") && ready.add(i),
      }),
  );
  await waitUntil("bench workers", () => Promise.resolve(ready.size === count));
  return async () => {
    await Promise.all(workers.map((w) => w.stop()));
  };
}

const figures: Figure[] = [];
try {
  console.log("\njob pipeline...");
  figures.push(...await pipelineFigures(stack.env, startWorkers));
} finally {
  await stack.stop();
}
console.log(`\n${report(figures)}`);
