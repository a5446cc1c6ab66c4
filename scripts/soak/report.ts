/**
 * The soak's part of the reliability report: its checks, figures and charts (memory, connections,
 * leases over time). The Markdown goes through scripts/reliability_report.ts like the suite's.
 */
import { join } from "node:path";
import { type LineChart, writeChart } from "../charts.ts";
import { percentile } from "../percentile.ts";
import type { Check } from "./checks.ts";
import { totalConnections } from "./checks.ts";
import type { LoadRecord } from "./load.ts";
import type { Sample } from "./sample.ts";

export interface SoakResult {
  minutes: number;
  /** When the load stopped and the drain began, in seconds since the start. */
  loadSeconds: number;
  warmUpSeconds: number;
  drainSeconds: number;
  workers: { processes: number; concurrency: number };
  customers: number;
  samples: Sample[];
  record: LoadRecord;
  checks: Check[];
  date: string;
}

const minutes = (s: number) => Number((s / 60).toFixed(2));

/** The soak's charts, keyed by file name. */
export function soakCharts(result: SoakResult): Map<string, LineChart> {
  const { samples, date } = result;
  const subtitle = `sampled every 30 s; warm-up ends at ${
    minutes(result.warmUpSeconds)
  } min, load stops at ${minutes(result.loadSeconds)} min; ${date}`;
  /** A service's total at each sample, unless one of its processes has no figure there. */
  const perService = (kibOf: (p: Sample["processes"][number]) => number | undefined) =>
    samples.flatMap((s) => {
      const byService = new Map<string, number | undefined>();
      for (const p of s.processes) {
        const kib = kibOf(p);
        const total = byService.has(p.service) ? byService.get(p.service) : 0;
        byService.set(
          p.service,
          total === undefined || kib === undefined ? undefined : total + kib,
        );
      }
      return [...byService].filter(([, kib]) => kib !== undefined).map(([service, kib]) => ({
        series: service,
        x: minutes(s.at),
        y: Number((kib! / 1024).toFixed(1)),
      }));
    });
  const memory = perService((p) => p.kib);
  const heap = perService((p) => p.deno ? p.v8?.liveKib : undefined);
  const names = [...new Set(samples.flatMap((s) => Object.keys(s.database.connections)))];
  const connections = samples.flatMap((s) => [
    { series: "total", x: minutes(s.at), y: totalConnections(s) },
    ...names.map((name) => ({
      series: name,
      x: minutes(s.at),
      y: s.database.connections[name] ?? 0,
    })),
  ]);
  const leases = samples.flatMap((s) => [
    { series: "jobs in progress (leases held)", x: minutes(s.at), y: s.database.leases },
    { series: "jobs pending", x: minutes(s.at), y: s.database.pending },
  ]);
  const time = { title: "minutes" };
  return new Map([
    ["soak-memory.svg", {
      title: "Private resident memory per service (RssAnon, all its processes)",
      subtitle,
      x: time,
      y: { title: "MiB" },
      points: memory,
    }],
    ["soak-heap.svg", {
      title: "Live memory per service, right after a full collection (judged for Deno)",
      subtitle,
      x: time,
      y: { title: "MiB" },
      points: heap,
    }],
    ["soak-connections.svg", {
      title: "Postgres client connections",
      subtitle,
      x: time,
      y: { title: "connections" },
      points: connections,
    }],
    ["soak-leases.svg", {
      title: "Leases held and jobs waiting",
      subtitle,
      x: time,
      y: { title: "jobs" },
      points: leases,
    }],
  ]);
}

export interface DrawnChart {
  file: string;
  title: string;
}

export async function drawSoakCharts(result: SoakResult, dir: string): Promise<DrawnChart[]> {
  Deno.mkdirSync(dir, { recursive: true });
  const drawn: DrawnChart[] = [];
  for (const [file, chart] of soakCharts(result)) {
    await writeChart(join(dir, file), chart);
    drawn.push({ file, title: chart.title });
  }
  return drawn;
}

function requestRows(record: LoadRecord): string[] {
  return [...record.statuses].sort(([a], [b]) => a.localeCompare(b)).map(([kind, byStatus]) => {
    const sorted = (record.latencies.get(kind) ?? []).toSorted((a, b) => a - b);
    const answers = [...byStatus].sort(([a], [b]) => a - b).map(([s, n]) => `${n} × ${s}`);
    return `| ${kind} | ${answers.join(", ")} | ${percentile(sorted, 50).toFixed(1)} / ${
      percentile(sorted, 99).toFixed(1)
    } ms |`;
  });
}

/**
 * Each Deno service's memory where the window starts and where the load stops, in MiB: resident,
 * what V8 holds for its heap, what is live in it, and the rest; "-" where a process had no report.
 */
function memoryRows(samples: Sample[], warmUp: number, loadSeconds: number): string[] {
  const loaded = samples.filter((s) => s.at >= warmUp && s.at <= loadSeconds);
  const [first, last] = [loaded[0], loaded.at(-1)];
  if (!first || !last) return [];
  const sums = (sample: Sample) => {
    const by = new Map<string, { rss: number; held: number; live: number } | undefined>();
    for (const p of sample.processes.filter((p) => p.deno)) {
      const m = by.has(p.service) ? by.get(p.service) : { rss: 0, held: 0, live: 0 };
      by.set(
        p.service,
        m && p.v8
          ? { rss: m.rss + p.kib, held: m.held + p.v8.heapKib, live: m.live + p.v8.liveKib }
          : undefined,
      );
    }
    return by;
  };
  const [from, to] = [sums(first), sums(last)];
  const mib = (kib: number) => (kib / 1024).toFixed(1);
  const cell = (a: number | undefined, b: number | undefined) =>
    a === undefined || b === undefined ? "-" : `${mib(a)} → ${mib(b)}`;
  return [...to.keys()].sort().map((service) => {
    const [a, b] = [from.get(service), to.get(service)];
    return `| ${service} | ${cell(a?.rss, b?.rss)} | ${cell(a?.held, b?.held)} | ${
      cell(a?.live, b?.live)
    } | ${cell(a && a.rss - a.held, b && b.rss - b.held)} |`;
  });
}

function tableRows(samples: Sample[]): string[] {
  const first = samples[0]!.database.tableBytes;
  const last = samples.at(-1)!.database.tableBytes;
  const kib = (b: number | undefined) => `${Math.round((b ?? 0) / 1024)} KiB`;
  // The tables the run wrote to; the others keep their size.
  return Object.keys(last).filter((t) => last[t] !== first[t])
    .sort((a, b) => last[b]! - last[a]!)
    .map((t) => `| ${t} | ${kib(first[t])} | ${kib(last[t])} |`);
}

/** The Markdown of the soak's part; `charts` are in docs/reliability/. */
export function soakMarkdown(result: SoakResult, charts: DrawnChart[]): string {
  const { record, checks } = result;
  const passed = checks.filter((c) => c.passed).length;
  const byMode = new Map<string, number>();
  for (const job of record.accepted) byMode.set(job.mode, (byMode.get(job.mode) ?? 0) + 1);
  const faults = record.slackFaults.map(String).join(", ") || "none";
  return [
    "## Soak",
    "",
    "Written by `deno task soak` (`npx deno@2.9.6 task soak [--minutes N]`, default 20): the whole",
    "local stack (PostgreSQL 15 with pg_cron, fauxqs, the Edge Functions behind the gateway, the",
    "Slack sink, the console's server) with the shipped settings, and worker processes running the",
    "shipped runtime with its defaults. The load is steady and mixed: each customer enqueues single",
    "jobs and bulk batches with its own token; jobs report progress, some fail once, some hang past",
    "their timeout once (deaf to the abort), some fail for good; a poison job every few minutes",
    "reaches the DLQ, and Slack refuses posts now and then (429 and 500 for the first alert, one",
    "more each time the last was met); health is probed and the console's reads are made with a",
    "viewer token. The soak's jobs last at most 2 s, so its workers time a job out after 10 s",
    "(`JOB_TIMEOUT_SECONDS`, default 30 minutes). Every 30 s it has every Deno process collect its",
    "garbage fully (a preloaded hook, `--expose-gc`, answers a signal with `gc()` and a report of",
    "V8's heap), then samples each process's private resident memory (RssAnon: not the mapped",
    "binaries, nor shared memory, where Postgres' buffer cache fills by design) with the heap V8",
    "holds and uses in it, Postgres' connections, table sizes and leases. After the load it waits",
    "until every job and alert has settled, then checks.",
    "",
    "Memory is judged on what is still reachable: a Deno process's live memory right after the",
    "full collection (heap objects and the buffers they hold), and Postgres' RssAnon. This departs",
    "from judging resident memory on purpose: a Deno process's RssAnon also holds heap pages V8",
    "keeps after freeing them and native memory that V8's compiler and the allocator grow with the",
    "work done, up to a ceiling reached only after thousands of requests, so at the soak's request",
    "rates it climbs through a 20-minute run without anything leaking (the reasons and figures are",
    "in `scripts/soak/checks.ts`, `judgedKib`). It is charted and tabled below; a leak of native",
    "memory that no JavaScript object holds would show there only.",
    "",
    `Last run: ${result.date}, ${navigator.hardwareConcurrency} CPU cores, ${result.minutes} minutes of load (warm-up ${
      minutes(result.warmUpSeconds)
    } min), ${result.customers} customers, ${result.workers.processes} workers at concurrency ${result.workers.concurrency}, drained in ${
      Math.round(result.drainSeconds)
    } s: **${passed} passed, ${checks.length - passed} failed**.`,
    "",
    "| check | result | detail |",
    "| --- | --- | --- |",
    ...checks.map((c) =>
      `| ${c.name} | ${c.passed ? "passed" : "**FAILED**"} | ${c.detail.replaceAll("|", "\\|")} |`
    ),
    "",
    ...charts.flatMap((c) => [`![${c.title}](reliability/${c.file})`, ""]),
    "The Deno services' memory from the end of warm-up to the end of the load, in MiB, V8's figures",
    "right after a full collection:",
    "",
    "| service | RssAnon | V8 heap held | live (judged) | RssAnon less heap held |",
    "| --- | --- | --- | --- | --- |",
    ...memoryRows(result.samples, result.warmUpSeconds, result.loadSeconds),
    "",
    "| requests | answers | p50 / p99 |",
    "| --- | --- | --- |",
    ...requestRows(record),
    "",
    `Jobs accepted: ${record.accepted.length} (${
      [...byMode].map(([m, n]) => `${m} ${n}`).join(", ")
    }); Slack scripted to answer ${faults}.`,
    "",
    "| table | size at start | size at end |",
    "| --- | --- | --- |",
    ...tableRows(result.samples),
    "",
  ].join("\n");
}
