/**
 * GET /console-api/metrics as Prometheus text (version 0.0.4) or, when the scraper asks for it,
 * OpenMetrics 1.0. Everything comes from one database call (counts capped or estimated, totals
 * from the per-minute roll-up) and the queues' depths, so a scrape every 15 s costs little.
 */
import type { QueueDepths } from "../health/status.ts";

export const OPENMETRICS_TYPE = "application/openmetrics-text; version=1.0.0; charset=utf-8";
export const PROMETHEUS_TYPE = "text/plain; version=0.0.4; charset=utf-8";

export interface MetricsInput {
  db: {
    jobs: Record<string, { count: number; exact: boolean }>;
    events_total: Record<string, number>;
    latency_bounds_ms: number[];
    latency_buckets: number[];
    latency_sum_ms: number;
    stats_rolled_up_to: string | null;
    workers_active: number;
    leases: number;
    outbox_waiting: number;
    dead_letters_recorded: number;
    alert_attempts: { delivered: number; failed: number };
    alerts_undelivered: number;
    operations_running: number;
    refusals_total: { function: string; policy: string; refused: number }[];
  };
  /** null: SQS did not answer (job_queue_sqs_up 0). */
  queues: QueueDepths | null;
  now: number;
}

type Sample = [labels: Record<string, string | number>, value: number, suffix?: string];

interface Family {
  name: string;
  type: "gauge" | "counter" | "histogram";
  help: string;
  unit?: string;
  samples: Sample[];
}

function labels(l: Record<string, string | number>): string {
  const parts = Object.entries(l).map(([k, v]) =>
    `${k}="${String(v).replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n")}"`
  );
  return parts.length ? `{${parts.join(",")}}` : "";
}

function families(input: MetricsInput): Family[] {
  const { db, queues } = input;
  const statuses = Object.entries(db.jobs);
  const cumulative: Sample[] = [];
  let running = 0;
  db.latency_bounds_ms.forEach((bound, i) => {
    running += db.latency_buckets[i] ?? 0;
    cumulative.push([{ le: bound / 1000 }, running, "_bucket"]);
  });
  const count = db.latency_buckets.reduce((sum, n) => sum + n, 0);
  cumulative.push(
    [{ le: "+Inf" }, count, "_bucket"],
    [{}, count, "_count"],
    [{}, db.latency_sum_ms / 1000, "_sum"],
  );
  const lag = db.stats_rolled_up_to
    ? Math.max(0, (input.now - Date.parse(db.stats_rolled_up_to)) / 1000)
    : null;

  const list: Family[] = [
    {
      name: "job_queue_jobs",
      type: "gauge",
      help: "Jobs by status (exact up to 10000, estimated above; see job_queue_jobs_exact).",
      samples: statuses.map(([status, c]) => [{ status }, c.count]),
    },
    {
      name: "job_queue_jobs_exact",
      type: "gauge",
      help: "1 when job_queue_jobs for the status is an exact count, 0 when estimated.",
      samples: statuses.map(([status, c]) => [{ status }, c.exact ? 1 : 0]),
    },
    {
      name: "job_queue_events",
      type: "counter",
      help: "Job events since the roll-up began (enqueued, claimed, completed, failed, ...).",
      samples: Object.entries(db.events_total).map(([event, n]) => [{ event }, n, "_total"]),
    },
    {
      name: "job_queue_latency_seconds",
      type: "histogram",
      unit: "seconds",
      help:
        "Queue latency: enqueue to first claim, per job (a wait equal to a bound counts above it).",
      samples: cumulative,
    },
    {
      name: "job_queue_stats_lag_seconds",
      type: "gauge",
      unit: "seconds",
      help:
        "Seconds since the end of the last minute the roll-up counted: the event counters' lag.",
      samples: lag === null ? [] : [[{}, Math.round(lag)]],
    },
    {
      name: "job_queue_sqs_up",
      type: "gauge",
      help: "1 when SQS answered for the queue depths of this scrape.",
      samples: [[{}, queues ? 1 : 0]],
    },
    {
      name: "job_queue_sqs_messages",
      type: "gauge",
      help: "Messages waiting or in flight in each lane's SQS queue.",
      samples: queues ? Object.entries(queues.lanes).map(([lane, n]) => [{ lane }, n]) : [],
    },
    {
      name: "job_queue_dlq_messages",
      type: "gauge",
      help: "Messages in the dead-letter queue.",
      samples: queues?.dlqDepth != null ? [[{}, queues.dlqDepth]] : [],
    },
    {
      name: "job_queue_dead_letters_recorded",
      type: "gauge",
      help: "Dead letters the DLQ monitor recorded on its last walk.",
      samples: [[{}, db.dead_letters_recorded]],
    },
    {
      name: "job_queue_workers_active",
      type: "gauge",
      help: "Workers with a heartbeat within the stale threshold.",
      samples: [[{}, db.workers_active]],
    },
    {
      name: "job_queue_leases",
      type: "gauge",
      help: "Jobs in progress (each held by a worker's lease).",
      samples: [[{}, db.leases]],
    },
    {
      name: "job_queue_outbox_waiting",
      type: "gauge",
      help: "Outbox rows not yet sent to SQS.",
      samples: [[{}, db.outbox_waiting]],
    },
    {
      name: "job_queue_alert_delivery_attempts",
      type: "counter",
      help: "Tries to deliver an alert to Slack, by result.",
      samples: [
        [{ result: "delivered" }, db.alert_attempts.delivered, "_total"],
        [{ result: "failed" }, db.alert_attempts.failed, "_total"],
      ],
    },
    {
      name: "job_queue_rate_limit_refusals",
      type: "counter",
      help: "Requests (or, for the jobs policy, enqueues) the rate limiter refused.",
      samples: db.refusals_total.map((r) => [
        { function: r.function, policy: r.policy },
        r.refused,
        "_total",
      ]),
    },
    {
      name: "job_queue_alerts_undelivered",
      type: "gauge",
      help: "Alerts written but not yet taken by Slack.",
      samples: [[{}, db.alerts_undelivered]],
    },
    {
      name: "job_queue_operations_running",
      type: "gauge",
      help: "Bulk actions from the console still running.",
      samples: [[{}, db.operations_running]],
    },
  ];
  return list;
}

/** The exposition text; openMetrics picks the format (the Accept header asked for it). */
export function renderMetrics(input: MetricsInput, openMetrics: boolean): string {
  const lines: string[] = [];
  for (const f of families(input)) {
    // Prometheus text names a counter family with its _total; OpenMetrics without it.
    const family = !openMetrics && f.type === "counter" ? `${f.name}_total` : f.name;
    lines.push(`# TYPE ${family} ${f.type}`);
    if (openMetrics && f.unit) lines.push(`# UNIT ${family} ${f.unit}`);
    lines.push(`# HELP ${family} ${f.help}`);
    for (const [l, value, suffix] of f.samples) {
      lines.push(`${f.name}${suffix ?? ""}${labels(l)} ${value}`);
    }
  }
  if (openMetrics) lines.push("# EOF");
  return lines.join("\n") + "\n";
}
