/**
 * SVG line charts for the docs (the benchmarks' and the soak's), drawn with Vega-Lite and
 * rendered without a browser. The files are plain SVG on a white background with no script, so
 * GitHub shows them as images in light and dark mode alike.
 */
import * as vega from "vega";
import { compile, type TopLevelSpec } from "vega-lite";

export interface Point {
  series: string;
  x: number | string;
  y: number;
}

export interface Axis {
  title: string;
  /** A logarithmic scale (latencies spanning orders of magnitude). */
  log?: boolean;
  /** Categories in the order the points give them (p50, p90, ...), not numbers. */
  ordinal?: boolean;
}

export interface LineChart {
  title: string;
  /** What was measured and when, under the title. */
  subtitle?: string;
  x: Axis;
  y: Axis;
  points: Point[];
  /** Series drawn dashed: references (a ceiling, the ideal), not measurements. */
  references?: string[];
}

function encodingAxis(axis: Axis, field: string, order: (string | number)[]) {
  if (axis.ordinal) {
    return {
      field,
      type: "ordinal" as const,
      title: axis.title,
      sort: order,
      axis: { labelAngle: 0 },
    };
  }
  return {
    field,
    type: "quantitative" as const,
    title: axis.title,
    scale: axis.log ? { type: "log" as const, nice: false } : { zero: true },
  };
}

/** The chart's Vega-Lite spec (exported for its test). */
export function chartSpec(chart: LineChart): TopLevelSpec {
  const xOrder = [...new Set(chart.points.map((p) => p.x))];
  const series = [...new Set(chart.points.map((p) => p.series))];
  const references = chart.references ?? [];
  return {
    $schema: "https://vega.github.io/schema/vega-lite/v6.json",
    title: { text: chart.title, subtitle: chart.subtitle ?? "", anchor: "start" },
    width: 560,
    height: 260,
    background: "white",
    data: { values: chart.points },
    mark: { type: "line", point: true, strokeWidth: 2 },
    encoding: {
      x: encodingAxis(chart.x, "x", xOrder),
      y: encodingAxis(chart.y, "y", []),
      color: { field: "series", type: "nominal", title: null, sort: series },
      strokeDash: {
        condition: {
          test: `indexof(${JSON.stringify(references)}, datum.series) >= 0`,
          value: [6, 4],
        },
        value: [1, 0],
      },
      tooltip: [{ field: "series" }, { field: "x" }, { field: "y" }],
    },
    // One column, no label limit: the series' names are the benchmark's own, often long.
    config: { legend: { orient: "bottom", columns: 1, labelLimit: 0 }, font: "sans-serif" },
  } as TopLevelSpec;
}

export async function lineChartSvg(chart: LineChart): Promise<string> {
  if (chart.points.length === 0) throw new Error(`Cannot draw '${chart.title}': no points`);
  const view = new vega.View(vega.parse(compile(chartSpec(chart)).spec), { renderer: "none" });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

/** Draws the chart into `path` (an .svg file). */
export async function writeChart(path: string, chart: LineChart): Promise<void> {
  Deno.writeTextFileSync(path, await lineChartSvg(chart));
}
