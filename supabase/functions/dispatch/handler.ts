/**
 * POST /dispatch: sends due outbox rows to SQS. Called by pg_cron (through pg_net) when rows are
 * due, and safe to call by hand. Service role only, checked here whatever the gateway does.
 */
import { refuseUnlessServiceRole } from "../_shared/auth.ts";
import { errorResponse, internalError } from "../_shared/errors.ts";
import type { DrainResult } from "../_shared/outbox.ts";

export interface DispatchDeps {
  serviceKeys: string[];
  /** One drain transaction. */
  drainOnce(): Promise<DrainResult>;
  budgetMs: number;
  now(): number;
}

export async function handle(req: Request, deps: DispatchDeps): Promise<Response> {
  const { pathname } = new URL(req.url);
  if (pathname.replace(/\/$/, "") !== "/dispatch") {
    return errorResponse(404, "not_found", "Use POST /dispatch.");
  }
  if (req.method !== "POST") {
    return errorResponse(405, "method_not_allowed", "Use POST.", { headers: { allow: "POST" } });
  }
  const refused = refuseUnlessServiceRole(req, deps.serviceKeys, "dispatch");
  if (refused) return refused;
  await req.body?.cancel();
  const total = { sent: 0, failed: 0, runs: 0 };
  const deadline = deps.now() + deps.budgetMs;
  try {
    while (deps.now() < deadline) {
      const result = await deps.drainOnce();
      total.sent += result.sent;
      total.failed += result.failed;
      total.runs += 1;
      // Stop when nothing is due, or when SQS refuses: those rows wait for their backoff.
      if (result.taken === 0 || result.failed > 0) break;
    }
  } catch (error) {
    return internalError("dispatch", error);
  }
  return Response.json({ sent: total.sent, failed: total.failed }, {
    headers: { "cache-control": "no-store" },
  });
}
