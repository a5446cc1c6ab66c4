/**
 * A time series drawn by uPlot (canvas, fast at thousands of points). `points` is the API's list
 * of `{at, <name>: n, ...}`; `series` names which fields to draw, with their labels and colours.
 * The chart follows the page's text colour, so it reads in dark mode too, and its width follows
 * its box.
 */
import { html, useEffect, useRef } from "../vendor/preact-htm.mjs";
import uPlot from "../vendor/uPlot.esm.js";

export const COLORS = ["#2f7de1", "#1f9d55", "#d64545", "#d98e04", "#8e59c6", "#0f9aa5"];

function toData(points, series) {
  return [
    points.map((p) => Date.parse(p.at) / 1000),
    ...series.map((s) => points.map((p) => p[s.field] ?? 0)),
  ];
}

export function Chart({ points, series, height = 180, label }) {
  const box = useRef(null);
  const plot = useRef(null);
  const shape = series.map((s) => s.field).join(",");
  useEffect(() => {
    const ink = getComputedStyle(box.current).color;
    const grid = "rgba(128,128,128,0.2)";
    const axis = { stroke: ink, grid: { stroke: grid }, ticks: { stroke: grid } };
    plot.current = new uPlot(
      {
        width: box.current.clientWidth || 600,
        height,
        series: [
          {},
          ...series.map((s, i) => ({
            label: s.label,
            stroke: s.color ?? COLORS[i % COLORS.length],
            width: 1.5,
            points: { show: false },
          })),
        ],
        axes: [axis, { ...axis, size: 50 }],
        legend: { live: false },
        cursor: { drag: { x: false, y: false } },
      },
      toData(points, series),
      box.current,
    );
    const resize = new ResizeObserver(() => {
      plot.current?.setSize({ width: box.current.clientWidth, height });
    });
    resize.observe(box.current);
    return () => {
      resize.disconnect();
      plot.current?.destroy();
      plot.current = null;
    };
  }, [shape, height]);
  useEffect(() => {
    plot.current?.setData(toData(points, series));
  }, [points]);
  return html`
    <figure class="chart" aria-label=${label}>
      <div ref=${box}></div>
    </figure>
  `;
}
