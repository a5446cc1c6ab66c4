/**
 * docs/RELIABILITY.md, the reliability report. Two runs write it, each its own part and leaving
 * the other's alone: the fault suite (`deno task test:reliability`, from the figures its tests
 * reported through tests/_support/report.ts: what each scenario proved and its numbers) and the
 * soak (`deno task soak`: its checks, figures and charts, scripts/soak/report.ts).
 */
import { join } from "node:path";
import { projectRoot } from "./stack/profile.ts";

interface Entry {
  scenario: string;
  claim: string;
  figures: Record<string, string>;
}

export function renderReport(
  entries: Entry[],
  run: { passed: number; failed: number; seconds: number; date: string; cpus: number },
): string {
  const lines = [
    "## Fault suite",
    "",
    "Written by `deno task test:reliability` (`npx deno@2.9.6 task test:reliability` on a fresh",
    "machine): the tests in `tests/reliability/` on an isolated local stack (PostgreSQL 15 +",
    "pg_cron, fauxqs, the Edge Functions behind the local gateway, the Slack sink), with the",
    "figures below from the run.",
    "",
    `Last run: ${run.date}, ${run.cpus} CPU cores, ${run.seconds} s: **${run.passed} passed, ${run.failed} failed**.`,
    "A scenario is listed only when its test passed.",
    "",
    "Also part of every `deno task test` (and CI): Slack answering 429, 500 or not at all loses no",
    "alert and repeats none (`tests/integration/dlq_monitor_test.ts`); Postgres and SQS stopped",
    "under `health` (`tests/integration/health_test.ts`), SQS stopped under enqueue",
    "(`tests/integration/sqs_outage_test.ts`); a SIGKILLed worker's job recovered once",
    "(`tests/integration/stale_recovery_test.ts`); `anon`/`authenticated` locked out of every table",
    "and function (`supabase/tests/database/13-security.sql`); and no secret in any log of the run",
    "(the test runner's final check).",
    "",
  ];
  for (const e of entries) {
    lines.push(`### ${e.scenario}`, "", e.claim, "", "| figure | value |", "| --- | --- |");
    for (const [k, v] of Object.entries(e.figures)) lines.push(`| ${k} | ${v} |`);
    lines.push("");
  }
  return lines.join("\n");
}

/** The report of a run, from what its tests recorded in `reportFile` (JSON lines). */
export function reliabilityReport(
  reportFile: string,
  tally: { passed: number; failed: number },
  seconds: number,
): string {
  let entries: Entry[] = [];
  try {
    entries = Deno.readTextFileSync(reportFile).trim().split("\n").filter(Boolean)
      .map((l) => JSON.parse(l));
  } catch {
    // No test reported anything.
  }
  return renderReport(entries, {
    ...tally,
    seconds,
    date: new Date().toISOString().slice(0, 10),
    cpus: navigator.hardwareConcurrency,
  });
}

export type ReportPart = "suite" | "soak";
const PARTS: ReportPart[] = ["suite", "soak"];

const HEADER = [
  "# Reliability",
  "",
  "Two runs write this file, each its own part: the fault suite (`deno task test:reliability`)",
  "and the soak (`deno task soak`). Do not edit: run them again.",
  "",
].join("\n");

const open = (part: ReportPart) => `<!-- ${part}: start -->`;
const close = (part: ReportPart) => `<!-- ${part}: end -->`;

/**
 * The report with `part` replaced by `body` (added in its place if it was not there yet). Refuses
 * a report with text outside its header and parts (an edit by hand, a broken marker), which
 * rewriting would lose.
 */
export function withPart(doc: string, part: ReportPart, body: string): string {
  const parts = new Map<ReportPart, string>();
  // The header (regenerated) is what comes before the first part: a title and prose only.
  const first = Math.min(...PARTS.map((name) => doc.indexOf(open(name))).filter((i) => i >= 0));
  const header = Number.isFinite(first) ? doc.slice(0, first) : doc;
  if (header.trim() && (!header.startsWith("# Reliability\n") || /^##/m.test(header))) {
    throw new Error(
      `Cannot rewrite the reliability report: it has text outside its parts ('${
        header.trim().slice(0, 40)
      }...')`,
    );
  }
  let rest = doc.slice(header.length);
  for (const name of PARTS) {
    const start = rest.indexOf(open(name));
    const end = rest.indexOf(close(name));
    if (start < 0 && end < 0) continue;
    if (start < 0 || end < start) {
      throw new Error(
        `Cannot rewrite the reliability report: its ${name} part's markers are broken`,
      );
    }
    parts.set(name, rest.slice(start + open(name).length, end).trim());
    rest = rest.slice(0, start) + rest.slice(end + close(name).length);
  }
  if (rest.trim()) {
    throw new Error(
      `Cannot rewrite the reliability report: it has text outside its parts ('${
        rest.trim().slice(0, 40)
      }...')`,
    );
  }
  parts.set(part, body.trim());
  return [
    HEADER,
    ...PARTS.filter((name) => parts.has(name)).map((name) =>
      `${open(name)}\n\n${parts.get(name)}\n\n${close(name)}\n`
    ),
  ].join("\n");
}

/** Rewrites one part of the committed docs/RELIABILITY.md: only when asked. */
export function writeReliabilityReport(part: ReportPart, body: string): string {
  const out = join(projectRoot, "docs", "RELIABILITY.md");
  let doc = "";
  try {
    doc = Deno.readTextFileSync(out);
  } catch {
    // The first run writes it.
  }
  Deno.writeTextFileSync(out, withPart(doc, part, body));
  // Formatted as `deno fmt --check` (CI) expects it.
  new Deno.Command(Deno.execPath(), { args: ["fmt", "--quiet", out] }).outputSync();
  return out;
}
