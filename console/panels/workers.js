/**
 * Workers: each worker's last heartbeat, whether it is alive (heard from within the stale
 * threshold), and the jobs it holds, latest sign of life first. A worker that holds jobs but has
 * gone silent is the one whose jobs the stale sweep will take back (see Leases).
 */
import { html } from "../vendor/preact-htm.mjs";
import { usePoll } from "../lib/poll.js";
import { href } from "../lib/route.js";
import { Badge, duration, fmt, JobLink, Panel, Stat, Table, Time } from "../lib/ui.js";

/** How many of a worker's job ids are listed before "and N more". */
const SHOWN = 5;
/** The API lists up to 200 workers, latest sign of life first. */
const LIMIT = 200;

function HeldJobs({ worker }) {
  if (!worker.jobs_held) return html`<span class="muted">none</span>`;
  const ids = (worker.job_ids ?? []).slice(0, SHOWN);
  const more = worker.jobs_held - ids.length;
  const links = ids.map((id) => html`<${JobLink} key=${id} id=${id} />`);
  return html`<span class="gap" data-jobs-held=${worker.jobs_held}>
    <strong>${fmt.format(worker.jobs_held)}</strong>
    ${links}
    ${more > 0 ? html`<span class="muted">and ${fmt.format(more)} more</span>` : null}
  </span>`;
}

const COLUMNS = [
  {
    label: "worker",
    render: (w) => html`<span class="mono" data-worker=${w.worker_id}>${w.worker_id}</span>`,
  },
  { label: "last heartbeat", render: (w) => html`<${Time} at=${w.last_heartbeat} />` },
  { label: "silent for", render: (w) => duration(w.silent_seconds) },
  { label: "state", render: (w) => html`<${Badge} value=${w.alive ? "alive" : "dead"} />` },
  { label: "jobs held", render: (w) => html`<${HeldJobs} worker=${w} />` },
];

export function Workers({ api }) {
  const poll = usePoll(() => api.get("/workers", { limit: LIMIT }), [], 10_000);
  const items = poll.data?.items ?? [];
  const alive = items.filter((w) => w.alive).length;
  const held = items.reduce((sum, w) => sum + (w.jobs_held ?? 0), 0);
  const silentHolding = items.filter((w) => !w.alive && w.jobs_held > 0).length;
  const jobsHeld = html`<${Stat} label="jobs held" value=${fmt.format(held)} />`;
  return html`<${Panel} title="Workers" poll=${poll}>
    <div class="stats">
      <${Stat} label="alive" value=${fmt.format(alive)} tone=${alive ? undefined : "warn"} />
      <${Stat} label="silent" value=${fmt.format(items.length - alive)} />
      <a href=${href("leases")} class="stat-link" data-stat="held">${jobsHeld}</a>
      <${Stat} label="silent but holding jobs" value=${fmt.format(silentHolding)}
        tone=${silentHolding ? "bad" : undefined} />
    </div>
    <${Table} rowKey=${(w) => w.worker_id} rows=${items} columns=${COLUMNS}
      empty="No worker has been heard from." />
    ${
    items.length >= LIMIT
      ? html`<p class="muted">Showing the ${LIMIT} workers heard from most recently.</p>`
      : null
  }
  </${Panel}>`;
}
