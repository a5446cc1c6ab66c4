/**
 * Runs one Edge Function the way Supabase's Edge Runtime does: it imports the function's
 * unchanged index.ts, whose Deno.serve() call we bind to 127.0.0.1 on a free port. The port is
 * reported on stdout for the gateway (functions_server.ts), which routes requests here.
 *
 * It also provides `EdgeRuntime.waitUntil(promise)` with hosted Supabase's meaning: work a
 * function started after its answer (e.g. the queue's send to SQS) keeps the instance alive.
 * When the instance is stopped (SIGTERM, or the gateway going away), it stops taking requests,
 * lets the answers in flight finish, then waits for every such promise before it exits.
 *
 * Usage: deno run --allow-net --allow-env --allow-read --allow-sys function_worker.ts <path/to/index.ts>
 */
import { pathToFileURL } from "node:url";
import { onParentGone } from "./process.ts";

export const READY_PREFIX = "__function_worker_ready__";

type ServeHandler = Deno.ServeHandler<Deno.NetAddr>;
type ServeOptions = Deno.ServeTcpOptions & { handler?: ServeHandler };

const serve = Deno.serve;
let server: Deno.HttpServer<Deno.NetAddr> | undefined;

/** Promises given to EdgeRuntime.waitUntil() that have not settled yet. */
const background = new Set<Promise<unknown>>();

export const edgeRuntime = {
  waitUntil(promise: Promise<unknown>): Promise<unknown> {
    const tracked = Promise.resolve(promise).catch((error) =>
      console.error(`EdgeRuntime.waitUntil: a background task failed: ${error}`)
    ).finally(() => background.delete(tracked));
    background.add(tracked);
    return promise;
  },
};

/** Stops taking requests, lets answers in flight finish, then waits for the work behind them. */
async function drain(): Promise<void> {
  await server?.shutdown();
  // A task may start another while it runs: wait until none is left.
  while (background.size > 0) await Promise.allSettled([...background]);
}

function boundServe(...args: unknown[]): Deno.HttpServer<Deno.NetAddr> {
  const [first, second] = args;
  const options: ServeOptions = typeof first === "function" ? {} : { ...(first as ServeOptions) };
  const handler = (typeof first === "function" ? first : second ?? options.handler) as
    | ServeHandler
    | undefined;
  if (!handler) throw new Error("Deno.serve() was called without a handler");
  if (server) throw new Error("An Edge Function may call Deno.serve() only once");
  server = serve({
    ...options,
    hostname: "127.0.0.1",
    port: 0,
    onListen: ({ port }) => console.log(`${READY_PREFIX} ${port}`),
  }, handler);
  return server;
}

if (import.meta.main) {
  const entry = Deno.args[0];
  if (!entry) throw new Error("Cannot start function worker: path to index.ts is missing");
  Object.defineProperty(Deno, "serve", { value: boundServe, configurable: true });
  Object.defineProperty(globalThis, "EdgeRuntime", { value: edgeRuntime, configurable: true });
  onParentGone(drain);
  await import(pathToFileURL(entry).href);
}
