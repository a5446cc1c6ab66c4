/**
 * Work that goes on after the answer. Hosted Supabase's Edge Runtime keeps an instance alive
 * until every promise given to EdgeRuntime.waitUntil() settles (within its wall-clock limit);
 * the local functions server (scripts/stack/function_worker.ts) provides the same global with
 * the same meaning, so this code is the same in both places. Outside either (a unit test, a
 * plain `deno run`) the process simply lives on while the promise runs.
 */
interface EdgeRuntimeGlobal {
  waitUntil(promise: Promise<unknown>): void;
}

export function afterAnswer(work: Promise<unknown>): void {
  const runtime = (globalThis as { EdgeRuntime?: EdgeRuntimeGlobal }).EdgeRuntime;
  runtime?.waitUntil(work);
}
