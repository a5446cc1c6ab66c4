/**
 * Dead letters: what SQS's dead-letter queue holds now against what the DLQ monitor recorded (a
 * gap means a walk has not reached some yet, or letters left SQS since), what was done with each
 * letter's job, the monitor's incident state, the letters with their job's state, and the latest
 * redrives. Operators can redrive: a dry run first (what would move), then the redrive itself.
 */
import { html, useState } from "../vendor/preact-htm.mjs";
import { usePagedPoll } from "../lib/poll.js";
import {
  ActionButton,
  Badge,
  fmt,
  JobLink,
  Pager,
  Panel,
  Stat,
  Table,
  Time,
  When,
} from "../lib/ui.js";

const Msg = ({ id }) => html`<span class="mono" title=${id}>${id.slice(0, 8)}</span>`;
const sum = (obj) => Object.values(obj ?? {}).reduce((a, b) => a + b, 0);
/** {requeued: 2, already_redriven: 1} → "requeued 2 · already redriven 1". */
function counts(obj) {
  const parts = Object.entries(obj ?? {}).map(([k, n]) =>
    `${k.replace(/_/g, " ")} ${fmt.format(n)}`
  );
  return parts.join(" · ") || "none";
}
function depthText(q) {
  return q ? `${fmt.format(q.visible)} waiting, ${fmt.format(q.inFlight)} in flight` : "unknown";
}
function gapText(gap) {
  if (gap === null) return undefined;
  if (gap > 0) return `${fmt.format(gap)} not walked yet`;
  return gap < 0 ? `${fmt.format(-gap)} no longer in SQS` : "matches SQS";
}

/** A dry run's answer: what the DLQ holds, what was recorded, the first letters' jobs. */
function Plan({ plan }) {
  const total = plan.recorded?.total ?? 0;
  const text = `Dry run: the DLQ holds ${depthText(plan.remaining)}; the monitor recorded ` +
    `${fmt.format(total)}${total ? ` (${counts(plan.recorded?.byAction)})` : ""}. A redrive ` +
    "puts back every job neither completed nor held by a live worker; for the rest it only " +
    "deletes the letter.";
  const first = (plan.sample ?? []).map((m) =>
    html`<span key=${m.messageId}><${JobLink} none="no job" id=${m.jobId} /> ×${m.receiveCount}</span>`
  );
  const sample = html`<p class="muted gap" data-sample=${first.length}>First letters: ${first}</p>`;
  return html`<p>${text}</p>${first.length ? sample : null}`;
}

function Redrive({ api, onDone }) {
  const [limit, setLimit] = useState(100);
  const [shown, setShown] = useState({});
  const valid = Number.isInteger(limit) && limit >= 1 && limit <= 10_000;
  const redrive = (dry_run) => () => api.post("/dlq/redrive", { limit, dry_run });
  const finished = (result) => {
    setShown({ result });
    onDone();
  };
  const change = (e) => {
    setLimit(Number(e.target.value));
    setShown({});
  };
  const { plan, result } = shown;
  const done = result &&
    `Redriven: ${counts(result.moved)}; ${fmt.format(result.skipped ?? 0)} left in the DLQ ` +
      `(no known job). The DLQ now holds ${depthText(result.remaining)}.`;
  const dry = html`
    <${ActionButton} label="Dry run" action=${redrive(true)}
      onDone=${(r) => setShown({ plan: r })} />
  `;
  const empty = plan && plan.remaining?.visible === 0 && plan.remaining?.inFlight === 0;
  const go = html`
    <${ActionButton} danger label=${`Redrive up to ${fmt.format(limit)}`}
      action=${redrive(false)} onDone=${finished} />
  `;
  const confirm = html`
    <div class="dry-run" data-dry-run="true">
      <${Plan} plan=${plan} />
      <div class="row-actions">
          ${empty ? html`<span class="muted">Nothing to redrive.</span>` : go}
          <button class="small secondary" onClick=${() => setShown({})}>Never mind</button>
        </div>
    </div>
  `;
  return html`<div class="bulk redrive" aria-label="Redrive dead letters">
    <strong>Redrive: put the jobs of dead letters back in the queue.</strong>
    <div class="row-actions">
      <label class="inline">At most <input type="number" name="limit" min="1" max="10000"
        value=${limit} onInput=${change} /> letters</label>
      ${valid ? dry : html`<span class="problem">From 1 to 10,000.</span>`}
    </div>
    ${plan ? confirm : null}
    ${result ? html`<p class="redrive-result" data-moved=${sum(result.moved)}>${done}</p>` : null}
  </div>`;
}

const LETTERS = [
  { label: "first seen", render: (l) => html`<${Time} at=${l.first_seen_at} />` },
  { label: "message", render: (l) => html`<${Msg} id=${l.message_id} />` },
  { label: "job", render: (l) => html`<${JobLink} none="no job" id=${l.job_id} />` },
  { label: "job state", render: (l) => l.job_status && html`<${Badge} value=${l.job_status} />` },
  { label: "customer", render: (l) => l.customer_id ?? "–" },
  { label: "received", render: (l) => `${l.receive_count}×` },
  {
    label: "monitor did",
    render: (l) =>
      html`<span class="gap">${l.action.replace(/_/g, " ")}<${Time} at=${l.action_at} /></span>`,
  },
  { label: "job error", render: (l) => html`<span class="problem-text">${l.job_error}</span>` },
];

const REDRIVES = [
  { label: "when", render: (r) => html`<${Time} at=${r.redriven_at} />` },
  { label: "job", render: (r) => html`<${JobLink} none="no job" id=${r.job_id} />` },
  { label: "outcome", render: (r) => html`<${Badge} value=${r.outcome} />` },
  { label: "message", render: (r) => html`<${Msg} id=${r.dlq_message_id} />` },
];

export function Dlq({ api, me }) {
  const { pager, poll } = usePagedPoll(api, "/dlq", 50, 15_000);
  const d = poll.data;
  if (!d) return html`<${Panel} title="Dead letters" poll=${poll} />`;
  const m = d.monitor ?? {};
  const depth = d.sqs_depth;
  const gap = depth === null ? null : depth - d.recorded;
  const oldest = html`<${When} at=${d.oldest_first_seen_at} none="none" />`;
  return html`<${Panel} title="Dead letters" poll=${poll}>
    <div class="stats">
      <${Stat} label="in SQS's DLQ now" value=${depth === null ? "?" : fmt.format(depth)}
        tone=${depth ? "bad" : undefined} hint=${depth === null ? "SQS did not answer" : ""} />
      <${Stat} label="recorded by the monitor" value=${fmt.format(d.recorded)}
        tone=${gap ? "warn" : undefined} hint=${gapText(gap)} />
      <${Stat} label="without a job" value=${fmt.format(d.without_job)} />
      <${Stat} label="oldest first seen" value=${oldest} />
    </div>
    <p>By what was done with the job: ${counts(d.by_action)}.</p>
    <dl class="facts">
      <dt>Monitor last checked</dt><dd><${Time} at=${m.checked_at} /> (saw ${m.depth ?? "?"})</dd>
      <dt>Incident since</dt><dd><${When} at=${m.incident_since} none="no incident" /></dd>
      <dt>Alerted</dt><dd><${When} at=${m.alerted_at} none="not alerted" /></dd>
      <dt>Held by a check or redrive until</dt><dd><${When} at=${m.held_until} none="not held" /></dd>
    </dl>
    ${me.may_act ? html`<${Redrive} api=${api} onDone=${poll.refresh} />` : null}
    <h3>Letters</h3>
    <${Table} rowKey=${(l) => l.message_id} rows=${d.items} columns=${LETTERS}
      empty="No dead letter is recorded." />
    <${Pager} pager=${pager} nextCursor=${d.next_cursor} />
    <h3>Latest redrives</h3>
    <${Table} rowKey=${(r) => r.dlq_message_id} rows=${d.redrives} columns=${REDRIVES}
      empty="Nothing has been redriven." />
  </${Panel}>`;
}
