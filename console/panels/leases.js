/**
 * Leases: every job a worker holds now, longest silent first, so a worker that stopped
 * heartbeating is at the top well before the stale sweep takes its jobs back (at risk: silent for
 * half the threshold). Below, the recovery ledger: each job taken back from a silent worker, and
 * what that worker's old lease still tried afterwards (all refused), which tells a slow worker
 * from a dead one.
 */
import { html } from "../vendor/preact-htm.mjs";
import { usePagedPoll } from "../lib/poll.js";
import { Badge, duration, fmt, JobLink, Pager, Panel, Table, Time } from "../lib/ui.js";

const Worker = ({ id }) =>
  id ? html`<span class="mono">${id}</span>` : html`<span class="muted">unknown</span>`;
const seconds = (s) => `${fmt.format(s ?? 0)} s`;

/** "heartbeat ×2, complete ×1", each call's time and worker on hover. */
function LateCalls({ calls }) {
  if (!calls?.length) return html`<span class="muted">none</span>`;
  const counts = {};
  for (const c of calls) counts[c.call] = (counts[c.call] ?? 0) + 1;
  const title = calls.map((c) =>
    `${c.call} at ${new Date(c.at).toLocaleString()}${c.worker_id ? ` from ${c.worker_id}` : ""}`
  ).join("\n");
  const text = Object.entries(counts).map(([call, n]) => `${call} ×${n}`).join(", ");
  return html`<span class="late-calls" title=${title} data-late-calls=${calls.length}>${text}</span>`;
}

/** How long the worker has been silent, against the stale threshold. */
function Silence({ lease, threshold }) {
  const label = `silent ${duration(lease.silent_seconds)} of ${seconds(threshold)}`;
  return html`
    <span class="silence">
      <meter min="0" max=${threshold} low=${threshold / 2} high=${threshold * 0.75} optimum="0"
        value=${Math.min(lease.silent_seconds, threshold)} aria-label=${label}></meter>
      <span>${duration(lease.silent_seconds)}</span>
      <span class="muted">of ${seconds(threshold)}</span>
    </span>
  `;
}

const LEASES = (threshold) => [
  { label: "job", render: (l) => html`<${JobLink} id=${l.job_id} />` },
  { label: "customer", render: (l) => l.customer_id },
  { label: "worker", render: (l) => html`<${Worker} id=${l.worker_id} />` },
  { label: "attempt", render: (l) => l.attempts },
  { label: "lease age", render: (l) => duration(l.lease_age_seconds) },
  { label: "silent", render: (l) => html`<${Silence} lease=${l} threshold=${threshold} />` },
  { label: "state", render: (l) => html`<${Badge} value=${l.at_risk ? "at_risk" : "ok"} />` },
  { label: "recovery due", render: (l) => html`<${Time} at=${l.recovery_due_at} />` },
];

const RECOVERIES = [
  { label: "when", render: (r) => html`<${Time} at=${r.at} />` },
  { label: "job", render: (r) => html`<${JobLink} id=${r.job_id} />` },
  { label: "from worker", render: (r) => html`<${Worker} id=${r.worker_id} />` },
  { label: "attempt", render: (r) => r.attempt ?? "–" },
  {
    label: "outcome",
    render: (r) => html`<span title=${r.reason ?? ""}><${Badge} value=${r.outcome} /></span>`,
  },
  {
    label: "late calls refused",
    render: (r) => html`<${LateCalls} calls=${r.late_calls_refused} />`,
  },
];

function Recoveries({ api }) {
  const { pager, poll } = usePagedPoll(api, "/recoveries", 25, 10_000);
  const about = "Jobs taken back from a silent worker (or failed for going stale too often), " +
    "newest first, and the calls their old lease made afterwards, all refused.";
  return html`
    <${Panel} title="Recovery ledger" poll=${poll}>
      <p class="muted">${about}</p>
      <${Table} rowKey=${(r) => r.id} rows=${poll.data?.items} columns=${RECOVERIES}
        empty="No job has been taken back." />
      <${Pager} pager=${pager} nextCursor=${poll.data?.next_cursor} />
      </${Panel}>
  `;
}

export function Leases({ api }) {
  const { pager, poll } = usePagedPoll(api, "/leases", 50, 10_000);
  const d = poll.data;
  const threshold = d?.stale_threshold_seconds ?? 0;
  const atRisk = d?.items?.filter((l) => l.at_risk).length ?? 0;
  const about = `Jobs in progress, longest silent first. A lease is at risk once its worker has ` +
    `been silent for ${seconds(d?.at_risk_after_seconds)}; after ${seconds(threshold)} the ` +
    `stale sweep takes the job back.`;
  const warning = `${fmt.format(atRisk)} ${atRisk === 1 ? "lease is" : "leases are"} at risk` +
    (d?.next_cursor || pager.page > 1 ? " on this page." : ".");
  return html`<${Panel} title="Leases" poll=${poll}>
      <p class="muted">${about}</p>
      ${atRisk ? html`<p class="problem" data-at-risk=${atRisk}>${warning}</p>` : null}
      <${Table} rowKey=${(l) => l.job_id} rows=${d?.items} columns=${LEASES(threshold)}
        empty="No job is in progress." />
      <${Pager} pager=${pager} nextCursor=${d?.next_cursor} />
    </${Panel}>
    <${Recoveries} api=${api} />`;
}
