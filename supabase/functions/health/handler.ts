/**
 * GET /health: whether the system works, from one database snapshot and the SQS queue
 * attributes, each behind its own short timeout so the answer never hangs. 200 when healthy or
 * degraded, 503 when unhealthy; `Accept: application/health+json` gets the IETF health-check
 * format. GET /health/live answers from the process alone, touching nothing.
 */
import { LANES } from "../_shared/lanes.ts";
import { errorResponse } from "../_shared/errors.ts";
import { withTimeout } from "../_shared/timeout.ts";
import {
  assess,
  type Assessment,
  isLate,
  type Probe,
  type QueueDepths,
  type Snapshot,
} from "./status.ts";

export interface HealthDeps {
  snapshot(): Promise<Snapshot>;
  queueDepths(): Promise<QueueDepths>;
  dbTimeoutMs: number;
  sqsTimeoutMs: number;
  now(): number;
  startedAt: number;
}

async function probe<T>(
  what: string,
  check: () => Promise<T>,
  timeoutMs: number,
): Promise<Probe<T>> {
  const started = performance.now();
  try {
    const value = await withTimeout(check(), timeoutMs, what);
    return { ok: true, value, latencyMs: Math.round(performance.now() - started) };
  } catch (error) {
    console.error(
      `health: ${what} check failed: ${error instanceof Error ? error.message : error}`,
    );
    return { ok: false };
  }
}

const HEADERS = { "cache-control": "no-store" };

/** The default answer, in the shape monitors of the old system already parse. */
function classicBody(
  db: Probe<Snapshot>,
  queue: Probe<QueueDepths>,
  verdict: Assessment,
  now: number,
  uptime: number,
) {
  const s = db.ok ? db.value : undefined;
  return {
    status: verdict.status,
    timestamp: new Date(now).toISOString(),
    uptime,
    services: {
      database: { status: db.ok ? "up" : "down", latency: db.ok ? db.latencyMs : null },
      workers: {
        status: !s ? "unknown" : s.workers_active > 0 ? "up" : "down",
        active_count: s?.workers_active ?? null,
        stale_count: s?.jobs_stale ?? null,
      },
      queue: {
        status: queue.ok ? "up" : "down",
        depth: queue.ok ? queue.value.depth : null,
        lanes: queue.ok ? queue.value.lanes : null,
        dlq_depth: queue.ok ? queue.value.dlqDepth : null,
      },
      scheduler: {
        status: !s
          ? "unknown"
          : s.cron_jobs.some((j) => isLate(j, now) || (j.active && j.last_status === "failed"))
          ? "down"
          : "up",
        jobs: (s?.cron_jobs ?? []).map((j) => ({
          name: j.name,
          schedule: j.schedule,
          last_run: j.last_run,
          last_status: j.last_status,
          late: isLate(j, now),
        })),
      },
    },
    metrics: {
      jobs_pending: s?.jobs_pending ?? null,
      jobs_in_progress: s?.jobs_in_progress ?? null,
      jobs_completed_today: s?.jobs_completed_today ?? null,
      jobs_failed_today: s?.jobs_failed_today ?? null,
    },
    reasons: verdict.reasons,
  };
}

const IETF_STATUS = { healthy: "pass", degraded: "warn", unhealthy: "fail" } as const;

/** draft-inadarei-api-health-check: checks keyed "component:measurement". */
function ietfBody(
  db: Probe<Snapshot>,
  queue: Probe<QueueDepths>,
  verdict: Assessment,
  now: number,
) {
  const time = new Date(now).toISOString();
  const s = db.ok ? db.value : undefined;
  const check = (componentType: string, observedValue: unknown, status: string, unit?: string) => [{
    componentType,
    observedValue,
    ...(unit ? { observedUnit: unit } : {}),
    status,
    time,
  }];
  const checks: Record<string, unknown> = {
    "database:responseTime": check(
      "datastore",
      db.ok ? db.latencyMs : null,
      db.ok ? "pass" : "fail",
      "ms",
    ),
    "queue:depth": check(
      "component",
      queue.ok ? queue.value.depth : null,
      queue.ok ? "pass" : "warn",
    ),
    // One entry per lane (componentId), as the draft does for instances of a component.
    "queue:laneDepth": LANES.map((lane) => ({
      componentId: lane,
      componentType: "component",
      observedValue: queue.ok ? queue.value.lanes[lane] : null,
      status: queue.ok ? "pass" : "warn",
      time,
    })),
    "queue:dlqDepth": check(
      "component",
      queue.ok ? queue.value.dlqDepth : null,
      queue.ok && !queue.value.dlqDepth ? "pass" : "warn",
    ),
  };
  if (s) {
    checks["workers:active"] = check(
      "component",
      s.workers_active,
      s.workers_active > 0 || s.jobs_pending === 0 ? "pass" : "warn",
    );
    checks["jobs:stale"] = check("component", s.jobs_stale, s.jobs_stale > 0 ? "warn" : "pass");
    for (const job of s.cron_jobs) {
      checks[`scheduler:${job.name}`] = check(
        "component",
        job.last_run,
        isLate(job, now) || (job.active && job.last_status === "failed") ? "warn" : "pass",
      );
    }
  }
  return {
    status: IETF_STATUS[verdict.status],
    description: "job reliability backbone",
    ...(verdict.reasons.length ? { output: verdict.reasons.join("; ") } : {}),
    checks,
  };
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
  const now = deps.now();
  const uptime = Math.round((now - deps.startedAt) / 100) / 10;
  if (route === "/live") {
    return Response.json({ status: "ok", timestamp: new Date(now).toISOString(), uptime }, {
      headers: HEADERS,
    });
  }
  const [db, queue] = await Promise.all([
    probe("database", deps.snapshot, deps.dbTimeoutMs),
    probe("queue", deps.queueDepths, deps.sqsTimeoutMs),
  ]);
  const verdict = assess(db, queue, now);
  const status = verdict.status === "unhealthy" ? 503 : 200;
  if (/application\/health\+json/i.test(req.headers.get("accept") ?? "")) {
    return new Response(JSON.stringify(ietfBody(db, queue, verdict, now)), {
      status,
      headers: { ...HEADERS, "content-type": "application/health+json" },
    });
  }
  return Response.json(classicBody(db, queue, verdict, now, uptime), { status, headers: HEADERS });
}
