/** Percentiles and a fixed-width report line, shared by the benchmarks. */

import { percentile } from "../scripts/percentile.ts";

export { percentile };

export interface Figure {
  name: string;
  value: string;
  target?: string;
  /** Whether the figure meets its target; undefined when there is none. */
  met?: boolean;
  /** Points of the run's charts this figure's measurement adds to (bench/charts.ts). */
  points?: ChartPoint[];
}

/** One point of a benchmark chart: `chart` is a key of BENCH_CHARTS (bench/charts.ts). */
export interface ChartPoint {
  chart: string;
  series: string;
  x: number | string;
  y: number;
}

/** The percentiles a latency chart shows. */
export const CHART_PERCENTILES = [50, 90, 99, 99.9] as const;

/** A latency distribution as chart points: one per percentile of CHART_PERCENTILES, in ms. */
export function percentilePoints(chart: string, series: string, ms: number[]): ChartPoint[] {
  const sorted = [...ms].sort((a, b) => a - b);
  return CHART_PERCENTILES.map((p) => ({ chart, series, x: `p${p}`, y: percentile(sorted, p) }));
}

export function summarize(values: number[]): { p50: number; p99: number; max: number } {
  const sorted = [...values].sort((a, b) => a - b);
  return { p50: percentile(sorted, 50), p99: percentile(sorted, 99), max: sorted.at(-1) ?? NaN };
}

export function report(figures: Figure[]): string {
  const rows = figures.map((f) => [
    f.name,
    f.value,
    f.target ?? "-",
    f.met === undefined ? "" : f.met ? "met" : "MISSED",
  ]);
  const widths = [0, 1, 2].map((i) =>
    Math.max(...rows.map((r) => r[i]!.length), ["benchmark", "figure", "target"][i]!.length)
  );
  const line = (r: string[]) =>
    `${r[0]!.padEnd(widths[0]!)}  ${r[1]!.padEnd(widths[1]!)}  ${r[2]!.padEnd(widths[2]!)}  ${
      r[3] ?? ""
    }`
      .trimEnd();
  return [line(["benchmark", "figure", "target", ""]), ...rows.map(line)].join("\n");
}

/** docs/BENCHMARKS.md: the figures of a full `deno task bench` run, with how to reproduce them. */
/** How to read the rate-limit rows, and what the limiter does under overload. */
const RATE_LIMIT_NOTE = [
  "Rate limiting: (a) is the limiter as the functions ship it, decisions waiting in an instance",
  "batched into one SQL call (at most two in flight); (a1) sends one call per request, for",
  "reference. Under overload a decision still waiting in an instance after 1 s is shed (503,",
  "never admitted); the in-memory fallback decides only while the database is unreachable,",
  "so a burst admits the limit plus what refills, on 1 instance or 4. The HTTP rows compare",
  "against the HTTP ceiling: OPTIONS on the same path, which makes no decision.",
];

/** How the console rows are measured. */
const CONSOLE_NOTE = [
  "Console: each console-api read through the gateway with a viewer token (verified through the",
  "JWKS), one request at a time, 200 per read, at 10k and then 1M jobs (a month of finished jobs,",
  "1,000 pending, 1,000 in progress, a week of roll-up and refusals); at a few milliseconds the",
  "1M / 10k ratio is mostly the machine's noise.",
];

/** How to read the pipeline rows. */
const PIPELINE_NOTE = [
  "Pipeline: the floor is OPTIONS on the queue function, answered by the same instance behind the",
  "same gateway without any I/O. Single-job POSTs are counted when answered: committed, with the",
  "send to SQS after the answer. Everything (load generator, gateway, function instance,",
  "PostgreSQL, the SQS emulator) shares the machine's two cores; the CPU row says what one request",
  "costs each of them, which is why a POST cannot come near half the floor here.",
];

const WORKERS_NOTE = [
  "Workers: the raw ceiling is the SQS emulator alone (batched receive and delete, one poller per",
  "worker process), measured in the same run; worker throughput counts from the moment every",
  "process has claimed a job to the last completion of a backlog already on SQS (so a process's",
  "start-up is not counted). Each worker holds at most 10 jobs (its default",
  "concurrency) and receives only for free slots, so with an instant handler it waits on",
  "its own round trips (receive, claim, complete) rather than on the CPU.",
];

export function markdownReport(
  figures: Figure[],
  run: { date: string; cpus: number; seconds: number },
  charts: string[] = [],
): string {
  const cell = (s: string) => s.replaceAll("|", "\\|");
  return [
    "# Benchmarks",
    "",
    "Written by `deno task bench` (`npx deno@2.9.6 task bench` on a fresh machine): every group",
    "(`pipeline`, `workers`, `priority`, `stale`, `health`, `console`, `ratelimit`, `dlq`) on a local stack of its own. Do not edit:",
    "run the task again. Benchmarks are measurements, not tests; a MISSED target is worth a look.",
    "Figures on a shared 2-core machine swing by about 30% between runs.",
    "",
    ...PIPELINE_NOTE,
    "",
    ...WORKERS_NOTE,
    "",
    ...CONSOLE_NOTE,
    "",
    ...RATE_LIMIT_NOTE,
    "",
    `Last run: ${run.date}, ${run.cpus} CPU cores, ${Math.round(run.seconds / 60)} minutes.`,
    "",
    ...charts,
    "## Figures",
    "",
    "| benchmark | figure | target | |",
    "| --- | --- | --- | --- |",
    ...figures.map((f) =>
      `| ${cell(f.name)} | ${cell(f.value)} | ${cell(f.target ?? "")} | ${
        f.met === undefined ? "" : f.met ? "met" : "**MISSED**"
      } |`
    ),
    "",
  ].join("\n");
}
