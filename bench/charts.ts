/**
 * The benchmark charts: which figures' points (Figure.points) make which chart, drawn into
 * docs/bench/ by a full `deno task bench` and shown in docs/BENCHMARKS.md.
 */
import { join } from "node:path";
import { type LineChart, writeChart } from "../scripts/charts.ts";
import type { ChartPoint, Figure } from "./stats.ts";

type ChartTemplate = Omit<LineChart, "points" | "subtitle"> & { file: string; about: string };

export const BENCH_CHARTS: Record<string, ChartTemplate> = {
  "worker-concurrency": {
    file: "worker-concurrency.svg",
    title: "Worker throughput against concurrency",
    about: "one worker process, a 50 ms handler, a backlog waiting on SQS",
    x: { title: "concurrency (jobs in flight in the process)", log: true },
    y: { title: "jobs completed per second" },
    references: ["ideal: concurrency / 50 ms", "raw SQS ceiling, 1 poller (emulator alone)"],
  },
  "enqueue-latency": {
    file: "enqueue-latency.svg",
    title: "Single-job POST latency beside the floor",
    about:
      "through the gateway at the same concurrency; the floor is OPTIONS on the same function (no I/O)",
    x: { title: "percentile", ordinal: true },
    y: { title: "ms", log: true },
  },
  "ratelimit-latency": {
    file: "ratelimit-latency.svg",
    title: "Rate-limit decision latency, side by side",
    about: "admitted traffic over 10k keys, the median round of 3 per contender",
    x: { title: "percentile", ordinal: true },
    y: { title: "ms", log: true },
  },
};

/**
 * Draws every chart the figures have points for into `dir` and returns the Markdown that shows
 * them (a heading, then one image per chart, linked relative to docs/).
 */
export async function drawBenchCharts(
  figures: Figure[],
  dir: string,
  date: string,
): Promise<string[]> {
  const points = new Map<string, ChartPoint[]>();
  for (const point of figures.flatMap((f) => f.points ?? [])) {
    if (!BENCH_CHARTS[point.chart]) throw new Error(`Unknown benchmark chart '${point.chart}'`);
    points.set(point.chart, [...points.get(point.chart) ?? [], point]);
  }
  if (points.size === 0) return [];
  Deno.mkdirSync(dir, { recursive: true });
  const lines = ["## Charts", ""];
  for (const [id, chartPoints] of points) {
    const { file, about, ...chart } = BENCH_CHARTS[id]!;
    await writeChart(join(dir, file), {
      ...chart,
      subtitle: `${about}; ${date}`,
      points: chartPoints.map(({ series, x, y }) => ({ series, x, y })),
    });
    lines.push(`![${chart.title}](bench/${file})`, "");
  }
  return lines;
}
