/**
 * Schedules: each pg_cron job the queue relies on (dispatching the outbox, recovering stale jobs,
 * the DLQ monitor, roll-ups, pruning), its latest runs as pg_cron recorded them, and what each of
 * our runs did (jobs recovered, rows pruned, requests sent). A job that stopped running or keeps
 * failing is how the queue silently degrades; this is where that shows. Commands are not shown.
 */
import { html } from "../vendor/preact-htm.mjs";
import { usePoll } from "../lib/poll.js";
import { Badge, duration, Panel, Table, Time } from "../lib/ui.js";

const RUNS = 10;

/** {recovered: 0, failed: 1} → "recovered 0, failed 1". */
function did(result) {
  if (result === null || result === undefined) return "";
  if (typeof result !== "object") return String(result);
  return Object.entries(result)
    .map(([k, v]) =>
      `${k.replace(/_/g, " ")} ${v === null ? "–" : typeof v === "object" ? JSON.stringify(v) : v}`
    )
    .join(", ");
}

function took(run) {
  if (!run.started_at || !run.ended_at) return "–";
  return duration((Date.parse(run.ended_at) - Date.parse(run.started_at)) / 1000);
}

/** Our record of a run: the result written between its start and its end (a second's slack). */
function resultOf(run, results) {
  const start = Date.parse(run.started_at);
  const end = run.ended_at ? Date.parse(run.ended_at) + 1_000 : Infinity;
  return results.find((r) => {
    const at = Date.parse(r.at);
    return at >= start - 1_000 && at <= end;
  });
}

const RUNS_COLUMNS = [
  { label: "status", render: (r) => html`<${Badge} value=${r.status} />` },
  { label: "started", render: (r) => html`<${Time} at=${r.started_at} />` },
  { label: "took", render: (r) => took(r) },
  { label: "message", render: (r) => html`<span class="mono">${r.message ?? ""}</span>` },
  {
    label: "did",
    render: (r) => (r.ours ? did(r.ours.result) : html`<span class="muted">–</span>`),
  },
];

/** One cron job's latest runs, each with what our run recorded, folded away until opened. */
function Runs({ job }) {
  const rows = job.runs.map((run) => ({ ...run, ours: resultOf(run, job.results) }));
  const failed = job.runs.filter((r) => r.status === "failed").length;
  const label =
    `${job.name}: ${job.runs.length === 1 ? "the latest run" : `${job.runs.length} latest runs`}` +
    (failed ? `, ${failed} failed` : "");
  return html`
    <details class="runs" open=${failed > 0} data-runs=${job.name}>
      <summary>${label}</summary>
      <${Table} rowKey=${(r) => r.run_id} rows=${rows} columns=${RUNS_COLUMNS} />
    </details>
  `;
}

function LastRun({ run }) {
  if (!run) return html`<span class="muted">none yet</span>`;
  return html`
    <span class="gap" data-last-run=${run.status}>
      <${Badge} value=${run.status} />
      <${Time} at=${run.started_at} />
      <span class="muted">took ${took(run)}</span>
    </span>
  `;
}

function LastResult({ result }) {
  if (!result) return html`<span class="muted">–</span>`;
  const text = did(result.result);
  return html`<span class="gap"><span>${text}</span><${Time} at=${result.at} /></span>`;
}

const COLUMNS = [
  {
    label: "job",
    render: (j) =>
      html`
        <span
          class="gap"><strong class="nowrap" data-schedule=${j.name}>${j.name}</strong>${j.active
            ? null
            : html`<${Badge} value="paused" />`}</span>
      `,
  },
  { label: "schedule", render: (j) => html`<code class="nowrap">${j.schedule}</code>` },
  { label: "last run", render: (j) => html`<${LastRun} run=${j.runs[0]} />` },
  { label: "last result", render: (j) => html`<${LastResult} result=${j.results[0]} />` },
];

export function Schedules({ api }) {
  const poll = usePoll(() => api.get("/schedules", { runs: RUNS }), [], 30_000);
  const items = poll.data?.items ?? [];
  const failing = items.filter((j) => j.runs[0]?.status === "failed").length;
  const warning = `The latest run of ${failing} scheduled ${
    failing === 1 ? "job" : "jobs"
  } failed.`;
  const ran = items.filter((j) => j.runs.length);
  return html`<${Panel} title="Schedules" poll=${poll}>
    ${failing ? html`<p class="problem" data-failing=${failing}>${warning}</p>` : null}
    <${Table} rowKey=${(j) =>
    j.name} rows=${items} columns=${COLUMNS} empty="pg_cron has no jobs." />
    <h3>Latest runs</h3>
    ${
    ran.length
      ? ran.map((j) => html`<${Runs} key=${j.name} job=${j} />`)
      : html`<p class="muted empty">pg_cron has recorded no runs.</p>`
  }
  </${Panel}>`;
}
