/**
 * Operations: every bulk retry or cancel started from the console (or by a script), newest first,
 * with its progress while it runs in batches and what it changed in the end; a failed one shows
 * its error. Below, the audit trail: every action asked of the console, who asked with which
 * role, and whether it was done or refused.
 */
import { html } from "../vendor/preact-htm.mjs";
import { usePagedPoll } from "../lib/poll.js";
import { Badge, fmt, JobLink, keyValues, Pager, Panel, Table, Time } from "../lib/ui.js";

function JobLinks({ ids }) {
  const links = ids.slice(0, 3).map((id) => html`<${JobLink} key=${id} id=${id} />`);
  const more = ids.length > 3 ? html`<span class="muted">and ${ids.length - 3} more</span>` : null;
  return html`<span class="gap">${links}${more}</span>`;
}

function Progress({ op }) {
  const of = op.estimated ? ` of ≈ ${fmt.format(op.estimated)}` : "";
  const processed = `${fmt.format(op.processed)}${of} processed`;
  if (op.status !== "running") {
    return html`<span><strong>${fmt.format(op.changed)} changed</strong>; ${processed}</span>`;
  }
  return html`
    <span class="op-progress">
      <progress value=${op.processed} max=${Math.max(op.estimated, op.processed, 1)}
        aria-label=${`operation ${op.id}: ${processed}`}></progress>
      <span>${processed}, ${fmt.format(op.changed)} changed</span>
    </span>
  `;
}

/** An audit row's target: its jobs as links, a filter or anything else as key=value. */
function Target({ target }) {
  const { job_ids: ids, filter, operation, ...rest } = target ?? {};
  return html`<span class="gap target">
    ${operation ? html`<span>operation #${operation}</span>` : null}
    ${ids?.length ? html`<${JobLinks} ids=${ids} />` : null}
    ${filter ? html`<code>${keyValues(filter) || "every job"}</code>` : null}
    ${Object.keys(rest).length ? html`<span>${keyValues(rest)}</span>` : null}
  </span>`;
}

const OPERATIONS = [
  { label: "id", render: (o) => html`<span data-operation=${o.id}>#${o.id}</span>` },
  { label: "action", render: (o) => o.action },
  {
    label: "on",
    render: (o) =>
      typeof o.job_count === "number"
        ? `${fmt.format(o.job_count)} listed ${o.job_count === 1 ? "job" : "jobs"}`
        : html`<code>${keyValues(o.filter) || "every job"}</code>`,
  },
  { label: "status", render: (o) => html`<${Badge} value=${o.status} />` },
  {
    label: "progress",
    render: (o) =>
      html`<${Progress} op=${o} />${
        o.error ? html`<div class="problem-text">${o.error}</div>` : null
      }`,
  },
  {
    label: "by",
    render: (o) =>
      html`<span class="gap">${o.created_by}<${Badge} value=${o.created_role} /></span>`,
  },
  { label: "started", render: (o) => html`<${Time} at=${o.created_at} />` },
  { label: "finished", render: (o) => html`<${Time} at=${o.finished_at} />` },
];

const AUDIT = [
  { label: "when", render: (a) => html`<${Time} at=${a.at} />` },
  { label: "who", render: (a) => a.actor },
  { label: "role", render: (a) => html`<${Badge} value=${a.role} />` },
  { label: "action", render: (a) => a.action.replace(/_/g, " ") },
  { label: "target", render: (a) => html`<${Target} target=${a.target} />` },
  { label: "affected", render: (a) => fmt.format(a.affected) },
  {
    label: "result",
    render: (a) =>
      html`<span data-audit=${a.id} title=${
        keyValues(a.detail)
      }><${Badge} value=${a.result} /></span>`,
  },
];

function Audit({ api }) {
  const { pager, poll } = usePagedPoll(api, "/audit", 50, 15_000);
  return html`
    <${Panel} title="Audit trail" poll=${poll}>
      <p class="muted">Every action asked of the console, newest first, done or refused.</p>
      <${Table} rowKey=${(a) => a.id} rows=${poll.data?.items} columns=${AUDIT}
        empty="No action has been asked yet." />
      <${Pager} pager=${pager} nextCursor=${poll.data?.next_cursor} />
      </${Panel}>
  `;
}

export function Operations({ api }) {
  const { pager, poll } = usePagedPoll(api, "/operations", 25, 5_000);
  const about = "Bulk retries and cancels, newest first. Each runs in batches; one whose " +
    "instance stopped is resumed by pg_cron within a minute or two.";
  return html`
    <${Panel} title="Operations" poll=${poll}>
      <p class="muted">${about}</p>
      <${Table} rowKey=${(o) => o.id} rows=${poll.data?.items} columns=${OPERATIONS}
        empty="No bulk action yet: start one from the filter on the Jobs page." />
      <${Pager} pager=${pager} nextCursor=${poll.data?.next_cursor} />
      </${Panel}>
      <${Audit} api=${api} />
  `;
}
