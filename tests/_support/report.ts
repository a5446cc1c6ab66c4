/**
 * Figures a reliability test reports, after its assertions passed: appended as JSON lines to
 * RELIABILITY_REPORT when `deno task test:reliability` sets it, and turned into
 * docs/RELIABILITY.md by scripts/reliability_report.ts.
 */
import { summarize } from "../../bench/stats.ts";

export interface ScenarioReport {
  /** The scenario, as the report's heading. */
  scenario: string;
  /** What the test proved, in a sentence. */
  claim: string;
  figures: Record<string, string>;
}

export function report(entry: ScenarioReport): void {
  const file = Deno.env.get("RELIABILITY_REPORT");
  if (!file) return;
  Deno.writeTextFileSync(file, JSON.stringify(entry) + "\n", { append: true });
}

/** p50 / p99 of durations in ms, as text. */
export function percentiles(ms: number[]): string {
  const { p50, p99 } = summarize(ms);
  return `p50 ${p50.toFixed(1)} ms, p99 ${p99.toFixed(1)} ms`;
}
