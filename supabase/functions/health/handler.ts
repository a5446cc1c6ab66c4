/**
 * GET /health: is the system working? This first version checks the database; the health issue
 * adds workers, queue, scheduler and job metrics. GET /health/live answers from the process
 * alone, touching nothing, for liveness probes.
 */
import { errorResponse } from "../_shared/errors.ts";

export interface HealthDeps {
  /** Resolves when the database answers; rejects when it does not. */
  pingDatabase(): Promise<void>;
  dbTimeoutMs: number;
  now(): number;
  startedAt: number;
}

const HEADERS = { "content-type": "application/json", "cache-control": "no-store" };

async function timed(check: () => Promise<void>, timeoutMs: number): Promise<number> {
  const started = performance.now();
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${timeoutMs} ms`)), timeoutMs);
  });
  try {
    await Promise.race([check(), timeout]);
    return Math.round(performance.now() - started);
  } finally {
    clearTimeout(timer);
  }
}

export async function handle(req: Request, deps: HealthDeps): Promise<Response> {
  const { pathname } = new URL(req.url);
  const route = pathname.replace(/^\/health/, "").replace(/\/$/, "");
  if (route !== "" && route !== "/live") {
    return errorResponse(404, "not_found", "Use /health or /health/live.");
  }
  if (req.method !== "GET" && req.method !== "HEAD") {
    return errorResponse(405, "method_not_allowed", "Use GET.", { headers: { allow: "GET" } });
  }
  const uptime = Math.round((deps.now() - deps.startedAt) / 100) / 10;
  const timestamp = new Date(deps.now()).toISOString();
  if (route === "/live") {
    return new Response(JSON.stringify({ status: "ok", timestamp, uptime }), { headers: HEADERS });
  }
  let database: { status: "up" | "down"; latency: number | null };
  try {
    database = { status: "up", latency: await timed(deps.pingDatabase, deps.dbTimeoutMs) };
  } catch (error) {
    console.error(
      `health: database check failed: ${error instanceof Error ? error.message : error}`,
    );
    database = { status: "down", latency: null };
  }
  const healthy = database.status === "up";
  const body = {
    status: healthy ? "healthy" : "unhealthy",
    timestamp,
    uptime,
    services: { database },
  };
  return new Response(JSON.stringify(body), { status: healthy ? 200 : 503, headers: HEADERS });
}
