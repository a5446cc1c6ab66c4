/**
 * Jobs: filters (kept in the URL), a jump to one id, newest first in keyset pages (fast at any
 * depth), Retry / Cancel on the rows whose state allows it, and bulk actions scoped to the
 * filter. A viewer sees the same page without any action.
 */
import { html } from "../vendor/preact-htm.mjs";
import { usePoll } from "../lib/poll.js";
import { href } from "../lib/route.js";
import { Badge, fmt, JobLink, Pager, Panel, Table, Time, usePager } from "../lib/ui.js";
import { BulkActions } from "./bulk_actions.js";
import { filterOf, Filters } from "./job_filters.js";
import { JobActions } from "./job_actions.js";

function progressText(p) {
  if (!p) return "";
  const part = p.total ? `${fmt.format(p.done ?? 0)}/${fmt.format(p.total)}` : "";
  return [part, p.note].filter(Boolean).join(" ");
}

function detail(j) {
  if (j.error_message) {
    return html`<span class="problem-text" title=${j.error_message}>${
      j.error_message.slice(0, 80)
    }</span>`;
  }
  const holder = j.leased_by && j.status === "in_progress" ? j.leased_by : "";
  return html`<span class="muted">${
    [holder, progressText(j.progress)].filter(Boolean).join(" · ")
  }</span>`;
}

export function Jobs({ api, me, route }) {
  const params = route.params;
  const filter = filterOf(params);
  // A new filter is a new view (app.js keys views on their URL): pages, fields and any dry-run
  // count start afresh.
  const pager = usePager();
  const query = { ...(params.id ? { id: params.id } : filter), cursor: pager.cursor, limit: 50 };
  const poll = usePoll(() => api.get("/jobs", query), [pager.cursor], 15_000);
  const columns = [
    { label: "job", render: (j) => html`<${JobLink} id=${j.id} />` },
    { label: "status", render: (j) => html`<${Badge} value=${j.status} />` },
    {
      label: "customer",
      render: (j) =>
        html`<a href=${href("jobs", { customer_id: j.customer_id })}>${j.customer_id}</a>`,
    },
    {
      label: "priority",
      render: (j) =>
        `${j.priority_level}${j.priority_tier ? ` (${j.priority_tier})` : ""} · ${j.lane}`,
    },
    { label: "tries", render: (j) => j.attempts },
    { label: "created", render: (j) => html`<${Time} at=${j.created_at} />` },
    { label: "detail", render: detail },
  ];
  if (me.may_act) {
    columns.push({
      label: "actions",
      render: (j) => html`<${JobActions} api=${api} me=${me} job=${j} onDone=${poll.refresh} />`,
    });
  }
  const lead = html`<${Filters} params=${params} />${
    me.may_act && !params.id
      ? html`<${BulkActions} api=${api} filter=${filter} onDone=${poll.refresh} />`
      : null
  }`;
  return html`
    <${Panel} title="Jobs" poll=${poll} lead=${lead}>
      <${Table} rowKey=${(j) => j.id} columns=${columns} rows=${poll.data?.items}
        empty=${params.id ? "No job with that id." : "No jobs match."} />
      <${Pager} pager=${pager} nextCursor=${poll.data?.next_cursor} />
      </${Panel}>
  `;
}
