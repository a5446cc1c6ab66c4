/**
 * Preloaded into every Deno process of the soak (`deno run --v8-flags=--expose-gc --preload`):
 * on SIGUSR2 it collects garbage fully and prints one line saying what V8 then holds and uses.
 * The soak signals every armed Deno process just before each sample (heap.ts), so a sample
 * measures what is still reachable, not what V8 has yet to collect.
 */
import { HEAP_REPORT } from "./heap.ts";

const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) {
  throw new Error("Cannot load the soak's heap hook: gc() is not exposed (--v8-flags=--expose-gc)");
}
Deno.addSignalListener("SIGUSR2", () => {
  gc();
  const { heapTotal, heapUsed, external } = Deno.memoryUsage();
  const report = { pid: Deno.pid, at: Date.now(), heapTotal, heapUsed, external };
  console.log(`${HEAP_REPORT} ${JSON.stringify(report)}`);
});
// Only now may the soak signal this process: before the listener, SIGUSR2 would end it.
console.log(`${HEAP_REPORT} ${JSON.stringify({ pid: Deno.pid, armed: true })}`);
