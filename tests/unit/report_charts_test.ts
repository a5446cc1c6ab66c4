/** The charts the reports draw, and the reliability report's two parts. */
import assert from "node:assert/strict";
import { join } from "node:path";
import { drawBenchCharts } from "../../bench/charts.ts";
import { percentilePoints } from "../../bench/stats.ts";
import { lineChartSvg } from "../../scripts/charts.ts";
import { withPart } from "../../scripts/reliability_report.ts";

Deno.test("lineChartSvg() draws plain SVG with its title and axes, references dashed, no script", async () => {
  const svg = await lineChartSvg({
    title: "Worker throughput",
    subtitle: "a subtitle",
    x: { title: "concurrency", log: true },
    y: { title: "jobs/s" },
    points: [1, 2, 4].flatMap((c) => [
      { series: "measured", x: c, y: c * 9 },
      { series: "ideal", x: c, y: c * 10 },
    ]),
    references: ["ideal"],
  });
  assert.match(svg, /^<svg[^>]+xmlns="http:\/\/www.w3.org\/2000\/svg"/);
  for (const text of ["Worker throughput", "a subtitle", "concurrency", "jobs/s", "measured"]) {
    assert.ok(svg.includes(text), `the chart shows '${text}'`);
  }
  assert.match(svg, /stroke-dasharray="6,4"/, "the reference is dashed");
  assert.doesNotMatch(svg, /<script|javascript:|<foreignObject/i, "nothing GitHub would strip");
  await assert.rejects(
    lineChartSvg({ title: "empty", x: { title: "x" }, y: { title: "y" }, points: [] }),
    /Cannot draw 'empty': no points/,
  );
});

Deno.test("percentilePoints() gives p50 to p99.9 of a latency sample", () => {
  const ms = Array.from({ length: 1000 }, (_, i) => i + 1);
  assert.deepEqual(percentilePoints("c", "s", ms).map((p) => [p.x, p.y]), [
    ["p50", 500],
    ["p90", 900],
    ["p99", 990],
    ["p99.9", 999],
  ]);
});

Deno.test("drawBenchCharts() draws one file per chart with points, and refuses an unknown chart", async () => {
  const dir = Deno.makeTempDirSync();
  try {
    const lines = await drawBenchCharts(
      [
        { name: "a", value: "1", points: percentilePoints("enqueue-latency", "POST", [1, 2, 3]) },
        { name: "b", value: "2" },
      ],
      dir,
      "2026-11-30",
    );
    assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name), ["enqueue-latency.svg"]);
    assert.ok(
      lines.includes("![Single-job POST latency beside the floor](bench/enqueue-latency.svg)"),
    );
    assert.ok(Deno.readTextFileSync(join(dir, "enqueue-latency.svg")).includes("2026-11-30"));
    assert.deepEqual(await drawBenchCharts([{ name: "b", value: "2" }], dir, "x"), []);
    await assert.rejects(
      drawBenchCharts(
        [{ name: "c", value: "3", points: percentilePoints("nope", "s", [1]) }],
        dir,
        "x",
      ),
      /Unknown benchmark chart 'nope'/,
    );
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("withPart() replaces one part of the reliability report and keeps the other", () => {
  const first = withPart("", "soak", "## Soak\n\nfirst");
  assert.match(first, /^# Reliability\n/);
  assert.doesNotMatch(first, /suite: start/);
  const both = withPart(first, "suite", "## Fault suite\n\nfigures");
  assert.ok(both.indexOf("## Fault suite") < both.indexOf("## Soak"), "the suite comes first");
  const again = withPart(both, "soak", "## Soak\n\nsecond");
  assert.ok(again.includes("second") && !again.includes("first"));
  assert.ok(again.includes("figures"), "the suite's part is kept");
  assert.equal(again.match(/<!-- soak: start -->/g)?.length, 1);
});

Deno.test("withPart() refuses a report with text outside its parts, which a rewrite would lose", () => {
  const doc = withPart("", "suite", "## Fault suite");
  assert.throws(() => withPart(doc + "\nedited by hand\n", "soak", "x"), /text outside its parts/);
  assert.throws(
    () => withPart("# Reliability\n\nintro\n\n## Bad input\n", "soak", "x"),
    /outside its parts/,
  );
  assert.throws(
    () => withPart(doc.replace("<!-- suite: end -->", ""), "soak", "x"),
    /suite part's markers are broken/,
  );
});
