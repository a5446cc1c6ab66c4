/**
 * Jobs: filters (kept in the URL), a jump to one id, newest first in keyset pages (fast at any
 * depth), Retry / Cancel on the rows whose state allows it, and bulk actions scoped to the
 * filter: first the dry-run count, then the tracked operation and its progress. A viewer sees the
 * same page without any action.
 */
import { html, useEffect, useState } from "../vendor/preact-htm.mjs";
import { usePoll } from "../lib/poll.js";
import { href, navigate } from "../lib/route.js";
import {
  ActionButton,
  Badge,
  fmt,
  JobLink,
  Pager,
  Panel,
  Problem,
  Table,
  Time,
  usePager,
} from "../lib/ui.js";

const FILTERS = [
  "status",
  "customer_id",
  "priority_level",
  "lane",
  "created_after",
  "created_before",
];
/** Which bulk action a status allows: the API narrows a filter to that status anyway. */
const BULK = { retry: "failed", cancel: "pending" };
const PAST = { retry: "retried", cancel: "cancelled" };

function filterOf(params) {
  return Object.fromEntries(FILTERS.filter((k) => params[k]).map((k) => [k, params[k]]));
}

/** datetime-local (the operator's local time) ⇄ the ISO 8601 the API wants. */
const toIso = (local) => (local ? new Date(local).toISOString() : "");
const toLocal = (iso) => {
  if (!iso) return "";
  const d = new Date(iso);
  return new Date(d.getTime() - d.getTimezoneOffset() * 60_000).toISOString().slice(0, 16);
};

function Filters({ params }) {
  const submit = (e) => {
    e.preventDefault();
    const form = Object.fromEntries(new FormData(e.target));
    for (const k of ["created_after", "created_before"]) form[k] = toIso(form[k]);
    navigate("jobs", form);
  };
  const jump = (e) => {
    e.preventDefault();
    const id = new FormData(e.target).get("id").trim();
    if (id) navigate("jobs", { id });
  };
  return html`
    <div>
      <form class="filters" onSubmit=${submit} aria-label="Filter jobs">
        <label>Status<select name="status" value=${params.status ?? ""}>
            <option value="">any</option>
            ${["pending", "in_progress", "failed", "completed"].map((s) =>
              html`<option value=${s}>${s.replace("_", " ")}</option>`
            )}
          </select></label>
        <label>Customer<input name="customer_id" value=${params.customer_id ??
          ""} placeholder="customer id" /></label>
        <label>Priority<select name="priority_level" value=${params.priority_level ?? ""}>
            <option value="">any</option>
            ${Array.from({ length: 11 }, (_, i) => html`<option value=${i}>${i}</option>`)}
          </select></label>
        <label>Lane<select name="lane" value=${params.lane ?? ""}>
            <option value="">any</option>
            ${["high", "default", "low"].map((l) => html`<option value=${l}>${l}</option>`)}
          </select></label>
        <label>Created after<input type="datetime-local" name="created_after" value=${toLocal(
          params.created_after,
        )} /></label>
        <label>Created before<input type="datetime-local" name="created_before" value=${toLocal(
          params.created_before,
        )} /></label>
        <div class="row-actions"><button type="submit" class="small">Apply</button>
            <a href=${href("jobs")} role="button" class="secondary small">Clear</a></div>
      </form>
      <form class="filters" onSubmit=${jump} aria-label="Find a job by id">
        <label>Job id<input name="id" value=${params.id ??
          ""} placeholder="00000000-0000-…" spellcheck="false" /></label>
        <div><button type="submit" class="small secondary">Go to job</button></div>
      </form>
    </div>
  `;
}

/** A tracked operation's progress, asked every 2 s until it is done or failed. */
function OperationProgress({ api, id }) {
  const [op, setOp] = useState(null);
  const [error, setError] = useState(null);
  useEffect(() => {
    let timer;
    let stop = false;
    const load = async () => {
      try {
        const o = await api.get(`/operations/${id}`);
        setOp(o);
        if (stop || o.status === "done" || o.status === "failed") return;
      } catch (e) {
        setError(e);
      }
      if (!stop) timer = setTimeout(load, 2_000);
    };
    load();
    return () => {
      stop = true;
      clearTimeout(timer);
    };
  }, [id]);
  if (error) return html`<${Problem} error=${error} />`;
  if (!op) return html`<p aria-busy="true">Operation ${id} started…</p>`;
  return html`<p class="operation-result" data-operation=${op.id}>
    Operation <a href=${href("operations")}>#${op.id}</a> <${Badge} value=${op.status} />:
    ${fmt.format(op.processed ?? 0)} processed, <strong>${
    fmt.format(op.changed ?? 0)
  } changed</strong>
    ${op.estimated !== null ? ` of about ${fmt.format(op.estimated)}` : ""}${
    op.error ? ` (${op.error})` : ""
  }.
  </p>`;
}

function BulkActions({ api, filter, onDone }) {
  const [plan, setPlan] = useState(null);
  const [operation, setOperation] = useState(null);
  const [state, setState] = useState({ busy: false, error: null });
  const ask = async (fn) => {
    setState({ busy: true, error: null });
    try {
      await fn();
      setState({ busy: false, error: null });
    } catch (error) {
      setState({ busy: false, error });
    }
  };
  const dryRun = (action) =>
    ask(async () => {
      setOperation(null);
      const r = await api.post("/operations", { action, filter, dry_run: true });
      setPlan({ action, matching: r.matching });
    });
  const run = () =>
    ask(async () => {
      const r = await api.post("/operations", { action: plan.action, filter });
      setPlan(null);
      setOperation(r.operation.id);
      onDone();
    });
  const allowed = Object.entries(BULK).filter(([, status]) =>
    !filter.status || filter.status === status
  );
  if (!Object.keys(filter).length || !allowed.length) return null;
  return html`<div class="bulk" aria-label="Bulk actions on this filter">
    <strong>On every job matching this filter:</strong>
    <div class="row-actions">
      ${
    allowed.map(([action, status]) =>
      html`
        <button class="small secondary" disabled=${state.busy}
          onClick=${() => dryRun(action)}>${action === "retry"
            ? "Retry"
            : "Cancel"} the ${status} ones…</button>
      `
    )
  }
    </div>
    ${
    plan
      ? html`<p class="dry-run" data-matching=${plan.matching}>
        Dry run: <strong>${fmt.format(plan.matching)}</strong> ${`${
        plan.matching === 1 ? "job" : "jobs"
      } would be ${PAST[plan.action]}. `}
        ${
        plan.matching > 0
          ? html`<button class="small danger" disabled=${state.busy} onClick=${run}>
          ${plan.action === "retry" ? "Retry" : "Cancel"} ${
            fmt.format(plan.matching)
          } jobs</button>`
          : null
      }
        <button class="small secondary" onClick=${() => setPlan(null)}>Never mind</button></p>`
      : null
  }
    <${Problem} error=${state.error} />
    ${operation ? html`<${OperationProgress} api=${api} id=${operation} />` : null}
  </div>`;
}

function progressText(p) {
  if (!p) return "";
  const part = p.total ? `${fmt.format(p.done ?? 0)}/${fmt.format(p.total)}` : "";
  return [part, p.note].filter(Boolean).join(" ");
}

export function Jobs({ api, me, route }) {
  const params = route.params;
  const filter = filterOf(params);
  const pager = usePager();
  const key = JSON.stringify(params);
  useEffect(() => pager.reset(), [key]);
  const poll = usePoll(
    () =>
      api.get("/jobs", {
        ...(params.id ? { id: params.id } : filter),
        cursor: pager.cursor,
        limit: 50,
      }),
    [key, pager.cursor],
    15_000,
  );
  const act = (job, action) => () => api.post(`/jobs/${job.id}/${action}`);
  const columns = [
    {
      label: "job",
      render: (j) => html`<${JobLink} id=${j.id} />`,
    },
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
    {
      label: "detail",
      render: (j) =>
        j.error_message
          ? html`<span class="problem-text" title=${j.error_message}>${
            j.error_message.slice(0, 80)
          }</span>`
          : html`<span class="muted">${
            j.leased_by && j.status === "in_progress" ? `${j.leased_by} ` : ""
          }${progressText(j.progress)}</span>`,
    },
  ];
  if (me.may_act) {
    columns.push({
      label: "actions",
      render: (j) =>
        html`<span class="row-actions">
        ${
          j.status === "failed"
            ? html`<${ActionButton} label="Retry" action=${
              act(j, "retry")
            } onDone=${poll.refresh} />`
            : null
        }
        ${
          j.status === "pending"
            ? html`
              <${ActionButton} label="Cancel" danger confirm=${`Cancel job ${j.id}? It will be marked failed.`}
                action=${act(j, "cancel")} onDone=${poll.refresh} />
            `
            : null
        }
      </span>`,
    });
  }
  return html`<${Panel} title="Jobs" poll=${poll}>
    <${Filters} params=${params} />
    ${
    me.may_act && !params.id
      ? html`<${BulkActions} api=${api} filter=${filter} onDone=${poll.refresh} />`
      : null
  }
    <${Table} rowKey=${(j) => j.id} columns=${columns} rows=${poll.data?.items}
      empty=${params.id ? "No job with that id." : "No jobs match."} />
    <${Pager} pager=${pager} nextCursor=${poll.data?.next_cursor} />
  </${Panel}>`;
}
