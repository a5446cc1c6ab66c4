/**
 * The soak's pass conditions, each a pure function of what was sampled and read back:
 * - after warm-up, no process's memory (a Deno process's live heap after a full collection,
 *   Postgres' RssAnon), not Postgres' processes' together, and not the connection count rise by
 *   more than 10%; no service's process ended, and every Deno process ran and reported throughout;
 * - every accepted job ended as its mode says (completed, failed, dead-lettered), once;
 * - no lease left dangling: none went stale during the run, none held after the drain;
 * - every alert delivered to Slack once, through the scripted 429s and 500s;
 * - every request answered as expected (enqueues 202 or 429, reads 200), none unanswered;
 * - the drain settled everything in time.
 */
import { ENDING, type Mode } from "./handler.ts";
import type { Accepted, LoadRecord } from "./load.ts";
import type { ProcessSample, Sample } from "./sample.ts";
import { growth, type Reading } from "./trend.ts";

export interface Check {
  name: string;
  passed: boolean;
  detail: string;
}

export const MAX_GROWTH = 0.1;
/** Fewer samples after warm-up show no trend (soakSettings keeps runs long enough). */
export const MIN_WINDOW_SAMPLES = 4;

const pct = (x: number) => `${(x * 100).toFixed(1)}%`;

/**
 * What a process's memory is judged on, in KiB: a Deno process's live memory right after a full
 * collection (heap objects and the buffers they hold: what is still reachable); Postgres'
 * RssAnon. Undefined for a Deno process with no report at that sample.
 *
 * Not a Deno process's RssAnon: beside its live memory it holds heap pages V8 keeps after freeing
 * them (a worker's heap went from 20 to 71 MiB held at 14 minutes, 12.4 MiB in use throughout)
 * and native memory that V8's compiler and the allocator grow with the work done, up to a ceiling
 * reached only after thousands of requests: measured alone, the health function's AWS SDK calls
 * levelled at about 35 MiB outside the heap after some 9,000 calls with the live heap flat at
 * 11.4 MiB, and the soak's health probes make under 1,000 in 20 minutes. So it climbs for longer
 * than the run without anything leaking. It is charted and tabled, not judged; a leak of native
 * memory that no JavaScript object holds would show there only.
 */
export function judgedKib(p: ProcessSample): number | undefined {
  return p.deno ? p.v8?.liveKib : p.kib;
}

export interface Rise {
  name: string;
  measure: "live heap" | "RssAnon";
  growth: number;
  fromKib: number;
  toKib: number;
}

function rise(name: string, measure: Rise["measure"], readings: Reading[]): Rise {
  return {
    name,
    measure,
    growth: growth(readings),
    fromKib: readings[0]!.value,
    toKib: readings.at(-1)!.value,
  };
}

/**
 * The fitted rise after warm-up of the judged memory (judgedKib) of every process present and
 * measured at every sample of the window, and of the RssAnon of every service's processes without
 * V8 together (Postgres' backends come and go), highest first. Problems: a Deno process that ran
 * only part of the window (one that died and was started again must not escape), one that did not
 * report its heap at some sample, and no Deno process judged at all.
 */
export function memoryGrowth(
  samples: Sample[],
  warmUp: number,
): { rises: Rise[]; problems: string[] } {
  const window = samples.filter((s) => s.at >= warmUp);
  const processes = new Map<
    string,
    { name: string; deno: boolean; seen: number; readings: Reading[] }
  >();
  const services = new Map<string, Reading[]>();
  for (const sample of window) {
    const totals = new Map<string, number>();
    for (const p of sample.processes) {
      const key = `${p.pid}@${p.started}`;
      const entry = processes.get(key) ??
        { name: `${p.service}: ${p.label} (pid ${p.pid})`, deno: p.deno, seen: 0, readings: [] };
      entry.seen++;
      const kib = judgedKib(p);
      if (kib !== undefined) entry.readings.push({ at: sample.at, value: kib });
      processes.set(key, entry);
      if (!p.deno) totals.set(p.service, (totals.get(p.service) ?? 0) + p.kib);
    }
    for (const [service, kib] of totals) {
      services.set(service, [...services.get(service) ?? [], { at: sample.at, value: kib }]);
    }
  }
  const whole = (n: number) => n === window.length;
  const deno = [...processes.values()].filter((e) => e.deno);
  return {
    rises: [
      ...[...processes.values()].filter((e) => whole(e.readings.length))
        .map((e) => rise(e.name, e.deno ? "live heap" : "RssAnon", e.readings)),
      ...[...services].filter(([, readings]) => whole(readings.length))
        .map(([service, readings]) => rise(`${service} (all its processes)`, "RssAnon", readings)),
    ].sort((a, b) => b.growth - a.growth),
    problems: [
      ...deno.filter((e) => !whole(e.seen)).map((e) =>
        `${e.name} ran ${e.seen} of ${window.length} samples (started or ended after warm-up)`
      ),
      ...deno.filter((e) => e.readings.length < e.seen).map((e) =>
        `${e.name} did not report its heap at ${e.seen - e.readings.length} samples`
      ),
      ...window.length && !deno.some((e) => whole(e.readings.length))
        ? ["no Deno process reported its heap throughout"]
        : [],
    ],
  };
}

/** Services whose own process changed or went away after warm-up. */
export function lostServices(samples: Sample[], warmUp: number): string[] {
  const window = samples.filter((s) => s.at >= warmUp);
  const roots = (s: Sample) =>
    new Map(s.processes.filter((p) => p.root).map((p) => [p.service, p.pid]));
  const first = window[0] ? roots(window[0]) : new Map<string, number>();
  const lost = new Set<string>();
  for (const sample of window.slice(1)) {
    const now = roots(sample);
    for (const [service, pid] of first) if (now.get(service) !== pid) lost.add(service);
  }
  return [...lost];
}

export function memoryCheck(samples: Sample[], warmUp: number): Check {
  const windowSamples = samples.filter((s) => s.at >= warmUp).length;
  const { rises: rows, problems: memoryProblems } = memoryGrowth(samples, warmUp);
  const lost = lostServices(samples, warmUp);
  const over = rows.filter((r) => r.growth > MAX_GROWTH);
  const shown = (over.length ? over : rows.slice(0, 3)).map((r) =>
    `${r.name} ${r.measure} ${pct(r.growth)}: ${(r.fromKib / 1024).toFixed(1)} → ${
      (r.toKib / 1024).toFixed(1)
    } MiB`
  );
  const problems = [
    ...(windowSamples < MIN_WINDOW_SAMPLES
      ? [`${windowSamples} samples after warm-up, fewer than ${MIN_WINDOW_SAMPLES}`]
      : []),
    ...lost.map((service) => `${service}'s process ended or changed`),
    ...memoryProblems,
  ];
  return {
    name: `memory: no process rises more than ${
      pct(MAX_GROWTH)
    } after warm-up (a Deno process's live memory after a full collection; Postgres' RssAnon, each and all together)`,
    passed: problems.length === 0 && rows.length > 0 && over.length === 0,
    detail: [
      ...problems,
      `${rows.length} processes and services over ${windowSamples} samples; ${
        over.length ? "over" : "highest"
      }: ${shown.join("; ")}`,
    ].join("; "),
  };
}

export const totalConnections = (s: Sample): number =>
  Object.values(s.database.connections).reduce((a, b) => a + b, 0);

export function connectionCheck(samples: Sample[], warmUp: number): Check {
  const readings = samples.filter((s) => s.at >= warmUp)
    .map((s) => ({ at: s.at, value: totalConnections(s) }));
  const fitted = growth(readings);
  const values = readings.map((r) => r.value);
  return {
    name: `connections: no rise of more than ${pct(MAX_GROWTH)} after warm-up`,
    passed: readings.length >= MIN_WINDOW_SAMPLES && fitted <= MAX_GROWTH,
    detail: readings.length < MIN_WINDOW_SAMPLES
      ? `${readings.length} samples after warm-up, fewer than ${MIN_WINDOW_SAMPLES}`
      : `fitted rise ${pct(fitted)}; ${Math.min(...values)} to ${Math.max(...values)} connections`,
  };
}

export interface JobRow {
  id: string;
  status: string;
  /** Its terminal events in queue_history (completed, failed, dead_lettered, cancelled), in order. */
  endings: string[];
}

export function jobCheck(accepted: Accepted[], rows: JobRow[]): Check {
  const byId = new Map(rows.map((r) => [r.id, r]));
  const problems: string[] = [];
  const ended = new Map<Mode, number>();
  for (const job of accepted) {
    const row = byId.get(job.id);
    const expected = ENDING[job.mode];
    const status = expected === "completed" ? "completed" : "failed";
    if (!row) problems.push(`${job.id} (${job.mode}) is missing`);
    else if (row.status !== status) {
      problems.push(`${job.id} (${job.mode}) is ${row.status}, not ${status}`);
    } else if (row.endings.length !== 1 || row.endings[0] !== expected) {
      problems.push(
        `${job.id} (${job.mode}) ended ${
          row.endings.join(", ") || "with no event"
        }, not ${expected} once`,
      );
    } else ended.set(job.mode, (ended.get(job.mode) ?? 0) + 1);
  }
  const counts = [...ended].map(([mode, n]) => `${mode} ${n}`).join(", ");
  return {
    name:
      "jobs: every accepted job ended once, as its mode says (completed, failed, dead-lettered)",
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
  tries: number;
  text: string;
}

export interface SlackPost {
  status: number;
  text: string;
}

/** `scripted`: the failures Slack was told to answer with (each must have been met). */
export function alertCheck(
  alerts: AlertRow[],
  posts: SlackPost[],
  poisonJobs: number,
  scripted: number[],
): Check {
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
  for (const status of new Set(scripted)) {
    if (!refused.some((p) => p.status === status)) problems.push(`Slack never answered ${status}`);
  }
  const statuses = [...new Set(refused.map((p) => p.status))].join("/");
  return {
    name: "alerts: every alert delivered to Slack once, through its 429s and 500s",
    passed: problems.length === 0,
    detail: `${alerts.length} alerts (${
      [...new Set(alerts.map((a) => a.kind))].join(", ") || "none"
    }); ${taken.length} posts taken, ${refused.length} answered ${statuses || "-"} and tried again${
      problems.length ? `; ${problems.slice(0, 5).join("; ")}` : ""
    }`,
  };
}

/** What each kind of request may be answered: enqueues are accepted or rate-limited. */
export function allowedStatuses(kind: string): number[] {
  return kind.startsWith("POST /queue") ? [202, 429] : [200];
}

export function answerCheck(record: LoadRecord): Check {
  let total = 0;
  const bad: string[] = [];
  for (const [kind, byStatus] of record.statuses) {
    for (const [status, n] of byStatus) {
      total += n;
      if (!allowedStatuses(kind).includes(status)) bad.push(`${kind}: ${n} × ${status}`);
    }
  }
  for (const [kind, n] of record.unanswered) bad.push(`${kind}: ${n} unanswered`);
  return {
    name: "answers: enqueues 202 or 429, reads 200, none unanswered",
    passed: total > 0 && bad.length === 0,
    detail: `${total} requests answered${bad.length ? `; ${bad.join("; ")}` : ""}`,
  };
}

export function drainCheck(settled: boolean, seconds: number, limitSeconds: number): Check {
  return {
    name: "drain: every job ended and every alert delivered after the load",
    passed: settled,
    detail: settled
      ? `settled in ${Math.round(seconds)} s`
      : `not settled within ${Math.round(limitSeconds)} s`,
  };
}
