/**
 * Retry or cancel every job matching the Jobs page's filter: first the dry-run count, then (a
 * second click) the tracked operation, whose progress is followed until it ends. The plan keeps
 * the filter it counted, and each filter is a view of its own (app.js), so a count never stands for
 * another filter's jobs.
 */
import { html, useEffect, useState } from "../vendor/preact-htm.mjs";
import { usePoll } from "../lib/poll.js";
import { href } from "../lib/route.js";
import { Badge, fmt, Problem } from "../lib/ui.js";

/** Which bulk action a status allows: the API narrows a filter to that status anyway. */
const BULK = { retry: "failed", cancel: "pending" };
const VERB = { retry: "Retry", cancel: "Cancel" };
const PAST = { retry: "retried", cancel: "cancelled" };
const ENDED = ["done", "failed"];

/** Asked every 2 s while the tab is visible, until the operation ends or cannot be read. */
function OperationProgress({ api, id }) {
  const [ended, setEnded] = useState(false);
  const poll = usePoll(() => api.get(`/operations/${id}`), [id], ended ? 0 : 2_000);
  const op = poll.data;
  const gone = poll.error && poll.error.status >= 400 && poll.error.status < 500 &&
    poll.error.status !== 429;
  useEffect(() => {
    if (gone || ENDED.includes(op?.status)) setEnded(true);
  }, [op?.status, gone]);
  if (!op) {
    return poll.error
      ? html`<${Problem} error=${poll.error} />`
      : html`<p aria-busy="true">Operation ${id} started…</p>`;
  }
  const estimate = op.estimated === null ? "" : ` of about ${fmt.format(op.estimated)}`;
  const sentence = `: ${fmt.format(op.processed ?? 0)} processed, ${
    fmt.format(op.changed ?? 0)
  } changed${estimate}${op.error ? ` (${op.error})` : ""}.`;
  return html`
    <div>
      <p class="operation-result"
        data-operation=${op.id}>Operation <a href=${href("operations")}>#${op
          .id}</a>${" "}<${Badge} value=${op.status} />${sentence}</p>
      <${Problem} error=${poll.error} />
    </div>
  `;
}

export function BulkActions({ api, filter, onDone }) {
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
      setPlan({ action, filter, matching: r.matching });
    });
  const run = () =>
    ask(async () => {
      const r = await api.post("/operations", { action: plan.action, filter: plan.filter });
      setPlan(null);
      setOperation(r.operation.id);
      onDone();
    });
  const allowed = Object.entries(BULK).filter(([, s]) => !filter.status || filter.status === s);
  if (!Object.keys(filter).length || !allowed.length) return null;
  const count = plan && `${fmt.format(plan.matching)} ${plan.matching === 1 ? "job" : "jobs"}`;
  return html`<div class="bulk" aria-label="Bulk actions on this filter">
    <strong>On every job matching this filter:</strong>
    <div class="row-actions">${
    allowed.map(([action, status]) =>
      html`<button class="small secondary" disabled=${state.busy} onClick=${() =>
        dryRun(action)}>${`${VERB[action]} the ${status} ones…`}</button>`
    )
  }</div>
    ${
    plan
      ? html`
        <p class="dry-run row-actions"
          data-matching=${plan.matching}><span>${`Dry run: ${count} would be ${
            PAST[plan.action]
          }.`}</span>${plan.matching > 0
            ? html`<button class="small danger" disabled=${state.busy} onClick=${run}>${`${
              VERB[plan.action]
            } ${count}`}</button>`
            : null}<button class="small secondary" onClick=${() =>
            setPlan(null)}>Never mind</button></p>
      `
      : null
  }
    <${Problem} error=${state.error} />
    ${operation ? html`<${OperationProgress} api=${api} id=${operation} />` : null}
  </div>`;
}
