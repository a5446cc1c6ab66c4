/**
 * POST /dlq-monitor: one check of the dead-letter queue, then delivery of due alerts (pg_cron
 * calls it every minute through pg_net; safe to call by hand).
 * POST /dlq-monitor/redrive {"limit": 100, "dryRun": false}: moves dead letters back to the job
 * queue. Service role only, checked here whatever the gateway does.
 */
import { refuseUnlessServiceRole } from "../_shared/auth.ts";
import { json } from "../_shared/http.ts";
import { errorResponse, internalError } from "../_shared/errors.ts";
import type { CheckResult } from "./check.ts";
import { DlqBusy } from "./dlq.ts";
import type { DeliveryResult } from "./delivery.ts";
import type { RedriveOptions, RedriveResult } from "./redrive.ts";

export interface DlqMonitorDeps {
  serviceKeys: string[];
  check(): Promise<CheckResult>;
  deliver(): Promise<DeliveryResult>;
  redrive(options: RedriveOptions): Promise<RedriveResult>;
  log(line: string): void;
}

export const MAX_REDRIVE_LIMIT = 10_000;

export async function handle(req: Request, deps: DlqMonitorDeps): Promise<Response> {
  const path = new URL(req.url).pathname.replace(/\/$/, "");
  if (path !== "/dlq-monitor" && path !== "/dlq-monitor/redrive") {
    return errorResponse(404, "not_found", "Use POST /dlq-monitor or POST /dlq-monitor/redrive.");
  }
  if (req.method !== "POST") {
    return errorResponse(405, "method_not_allowed", "Use POST.", { headers: { allow: "POST" } });
  }
  const refused = refuseUnlessServiceRole(req, deps.serviceKeys, "run the DLQ monitor");
  if (refused) return refused;
  return path === "/dlq-monitor" ? await check(req, deps) : await redrive(req, deps);
}

async function check(req: Request, deps: DlqMonitorDeps): Promise<Response> {
  await req.body?.cancel();
  let checked: CheckResult | undefined;
  try {
    checked = await deps.check();
  } catch (error) {
    // Alerts raised earlier must not wait for SQS: deliver them anyway.
    deps.log(`dlq-monitor: check failed: ${error instanceof Error ? error.message : error}`);
  }
  let delivery: DeliveryResult;
  try {
    delivery = await deps.deliver();
  } catch (error) {
    return internalError("dlq-monitor: delivery", error);
  }
  if (!checked) {
    return errorResponse(
      503,
      "check_failed",
      "The dead-letter queue could not be checked; alerts already raised were still delivered.",
      { extra: { delivered: delivery.delivered } },
    );
  }
  return json({ ...checked, ...delivery });
}

async function redrive(req: Request, deps: DlqMonitorDeps): Promise<Response> {
  const text = await req.text();
  let body: unknown = {};
  if (text.trim()) {
    try {
      body = JSON.parse(text);
    } catch {
      return errorResponse(400, "invalid_json", "The body is not valid JSON.");
    }
  }
  if (typeof body !== "object" || body === null || Array.isArray(body)) {
    return errorResponse(400, "invalid_body", "The body must be a JSON object.");
  }
  const { limit = 100, dryRun = false, ...rest } = body as Record<string, unknown>;
  const unknown = Object.keys(rest);
  if (unknown.length > 0) {
    return errorResponse(400, "unknown_field", `Unknown field: ${unknown[0]}.`);
  }
  if (
    typeof limit !== "number" || !Number.isInteger(limit) || limit < 1 || limit > MAX_REDRIVE_LIMIT
  ) {
    return errorResponse(
      400,
      "invalid_limit",
      `limit must be an integer from 1 to ${MAX_REDRIVE_LIMIT}.`,
    );
  }
  if (typeof dryRun !== "boolean") {
    return errorResponse(400, "invalid_dry_run", "dryRun must be true or false.");
  }
  try {
    return json(await deps.redrive({ limit, dryRun }));
  } catch (error) {
    if (error instanceof DlqBusy) {
      return errorResponse(
        409,
        "dlq_busy",
        "A DLQ check or another redrive holds the queue right now; try again in a few seconds.",
        { headers: { "retry-after": "5" } },
      );
    }
    return internalError("dlq-monitor: redrive", error);
  }
}
