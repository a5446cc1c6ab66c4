/**
 * The soak's pass conditions, each a pure function of what was sampled and read back:
 * - after warm-up, no process's memory and not the connection count rise by more than 10%;
 * - every accepted job ended as its mode says (completed or failed), once;
 * - no lease left dangling: none went stale during the run, none held after the drain;
 * - every alert delivered to Slack once, through the scripted 429s and 500s;
 * - no request answered 5xx or went unanswered.
 */
import { EXPECTED, type Mode } from "./handler.ts";
import type { Accepted, LoadRecord } from "./load.ts";
import type { Sample } from "./sample.ts";
import { growth, type Reading } from "./trend.ts";

export interface Check {
  name: string;
  passed: boolean;
  detail: string;
}

export const MAX_GROWTH = 0.1;

const pct = (x: number) => `${(x * 100).toFixed(1)}%`;

/** Every process alive through the window after warm-up, by its fitted rise. */
export function memoryGrowth(
  samples: Sample[],
  warmUp: number,
): { pid: number; name: string; growth: number; fromKib: number; toKib: number }[] {
  const window = samples.filter((s) => s.at >= warmUp);
  const seen = new Map<number, { name: string; readings: Reading[] }>();
  for (const sample of window) {
    for (const p of sample.processes) {
      const entry = seen.get(p.pid) ?? { name: `${p.service}: ${p.label}`, readings: [] };
      entry.readings.push({ at: sample.at, value: p.kib });
      seen.set(p.pid, entry);
    }
  }
  return [...seen].filter(([, e]) => e.readings.length === window.length)
    .map(([pid, e]) => ({
      pid,
      name: e.name,
      growth: growth(e.readings),
      fromKib: e.readings[0]!.value,
      toKib: e.readings.at(-1)!.value,
    }))
    .sort((a, b) => b.growth - a.growth);
}

export function memoryCheck(samples: Sample[], warmUp: number): Check {
  const rows = memoryGrowth(samples, warmUp);
  const over = rows.filter((r) => r.growth > MAX_GROWTH);
  const shown = (over.length ? over : rows.slice(0, 3)).map((r) =>
    `${r.name} (pid ${r.pid}) ${pct(r.growth)}: ${Math.round(r.fromKib / 1024)} → ${
      Math.round(r.toKib / 1024)
    } MiB`
  );
  return {
    name: `memory: no process rises more than ${pct(MAX_GROWTH)} after warm-up`,
    passed: rows.length > 0 && over.length === 0,
    detail: rows.length === 0
      ? "no process lived through the window"
      : `${rows.length} processes; ${over.length ? "over" : "highest"}: ${shown.join("; ")}`,
  };
}

export const totalConnections = (s: Sample): number =>
  Object.values(s.database.connections).reduce((a, b) => a + b, 0);

export function connectionCheck(samples: Sample[], warmUp: number): Check {
  const readings = samples.filter((s) => s.at >= warmUp)
    .map((s) => ({ at: s.at, value: totalConnections(s) }));
  const rise = growth(readings);
  const values = readings.map((r) => r.value);
  return {
    name: `connections: no rise of more than ${pct(MAX_GROWTH)} after warm-up`,
    passed: readings.length >= 2 && rise <= MAX_GROWTH,
    detail: readings.length < 2
      ? "fewer than 2 samples after warm-up"
      : `fitted rise ${pct(rise)}; ${Math.min(...values)} to ${Math.max(...values)} connections`,
  };
}

export interface JobRow {
  id: string;
  status: string;
  /** Its terminal events in queue_history (completed, failed, dead_lettered, cancelled). */
  endings: number;
}

export function jobCheck(accepted: Accepted[], rows: JobRow[]): Check {
  const byId = new Map(rows.map((r) => [r.id, r]));
  const problems: string[] = [];
  const ended = new Map<Mode, number>();
  for (const job of accepted) {
    const row = byId.get(job.id);
    if (!row) problems.push(`${job.id} (${job.mode}) is missing`);
    else if (row.status !== EXPECTED[job.mode]) {
      problems.push(`${job.id} (${job.mode}) is ${row.status}, not ${EXPECTED[job.mode]}`);
    } else if (row.endings !== 1) {
      problems.push(`${job.id} (${job.mode}) ended ${row.endings} times`);
    } else ended.set(job.mode, (ended.get(job.mode) ?? 0) + 1);
  }
  const counts = [...ended].map(([mode, n]) => `${mode} ${n}`).join(", ");
  return {
    name: "jobs: every accepted job ended completed or failed as its mode says, once",
    passed: accepted.length > 0 && problems.length === 0,
    detail: `${accepted.length} accepted; ended as expected: ${counts || "none"}${
      problems.length ? `; ${problems.length} not: ${problems.slice(0, 5).join("; ")}` : ""
    }`,
  };
}

export function leaseCheck(
  after: { inProgress: number; workersHoldingJobs: number; recovered: number },
): Check {
  return {
    name: "leases: none went stale during the run, none held after the drain",
    passed: after.inProgress === 0 && after.workersHoldingJobs === 0 && after.recovered === 0,
    detail:
      `${after.recovered} stale-lease recoveries; after the drain ${after.inProgress} jobs in progress, ${after.workersHoldingJobs} workers holding a job`,
  };
}

export interface AlertRow {
  id: number;
  kind: string;
  delivered: boolean;
  text: string;
}

export interface SlackPost {
  status: number;
  text: string;
}

export function alertCheck(alerts: AlertRow[], posts: SlackPost[], poisonJobs: number): Check {
  const taken = posts.filter((p) => p.status === 200);
  const refused = posts.filter((p) => p.status !== 200);
  const problems: string[] = [];
  for (const alert of alerts) {
    const copies = taken.filter((p) => p.text === alert.text).length;
    if (!alert.delivered) problems.push(`alert ${alert.id} (${alert.kind}) not delivered`);
    if (copies !== 1) {
      problems.push(`alert ${alert.id} (${alert.kind}) reached Slack ${copies} times`);
    }
  }
  if (taken.length !== alerts.length) {
    problems.push(`${taken.length} posts taken for ${alerts.length} alerts`);
  }
  if (poisonJobs > 0 && alerts.length === 0) problems.push("no alert for the dead letters");
  return {
    name: "alerts: every alert delivered to Slack once, through its 429s and 500s",
    passed: problems.length === 0,
    detail: `${alerts.length} alerts (${
      [...new Set(alerts.map((a) => a.kind))].join(", ") || "none"
    }); ${taken.length} posts taken, ${refused.length} answered ${
      [...new Set(refused.map((p) => p.status))].join("/") || "-"
    } and tried again${problems.length ? `; ${problems.slice(0, 5).join("; ")}` : ""}`,
  };
}

export function answerCheck(record: LoadRecord): Check {
  let total = 0;
  const bad: string[] = [];
  for (const [kind, byStatus] of record.statuses) {
    for (const [status, n] of byStatus) {
      total += n;
      if (status >= 500) bad.push(`${kind}: ${n} × ${status}`);
    }
  }
  for (const [kind, n] of record.unanswered) bad.push(`${kind}: ${n} unanswered`);
  return {
    name: "answers: no 5xx and none unanswered",
    passed: total > 0 && bad.length === 0,
    detail: `${total} requests answered${bad.length ? `; ${bad.join("; ")}` : ""}`,
  };
}
