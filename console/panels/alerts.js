/**
 * Alerts: what the system told Slack (or tried to), newest first, with every delivery attempt, so
 * an operator can see an alert that never arrived and why. Above, whether Slack last worked and
 * how many alerts still wait to be delivered (they are tried again with backoff).
 */
import { html } from "../vendor/preact-htm.mjs";
import { usePagedPoll } from "../lib/poll.js";
import { Badge, fmt, Pager, Panel, Stat, Table, Time } from "../lib/ui.js";

/** "next try in 2 min", or nothing. */
const NextTry = ({ at }) =>
  at ? html`<span class="muted gap"><span>next try</span><${Time} at=${at} /></span>` : null;

function Delivery({ alert }) {
  return html`<span class="gap" data-alert=${alert.id}>
    <${Badge} value=${alert.delivered_at ? "delivered" : "waiting"} />
    ${alert.delivered_at ? html`<${Time} at=${alert.delivered_at} />` : null}
    ${alert.delivered_at ? null : html`<${NextTry} at=${alert.next_try_at} />`}
  </span>`;
}

/** Every attempt: when, delivered or the error, and when the next one was due. */
function Attempts({ attempts }) {
  if (!attempts?.length) return html`<span class="muted">not tried yet</span>`;
  const items = attempts.map((t) =>
    html`<li key=${t.attempt} data-delivered=${t.delivered ? "true" : "false"}><span class="gap">
      <${Time} at=${t.at} />
      <${Badge} value=${t.delivered ? "delivered" : "failed"} />
      ${t.error ? html`<span class="problem-text">${t.error}</span>` : null}
      ${t.delivered ? null : html`<${NextTry} at=${t.next_try_at} />`}
    </span></li>`
  );
  return html`<ol class="attempts">${items}</ol>`;
}

function slackStat(slack) {
  if (!slack) return { value: "not tried", hint: "no alert has been sent yet" };
  const detail = slack.detail ? html`<span>${slack.detail}</span>` : null;
  return {
    value: slack.ok ? "working" : "failing",
    tone: slack.ok ? "ok" : "bad",
    hint:
      html`<span class="gap">${detail}<span>as of</span><${Time} at=${slack.updated_at} /></span>`,
  };
}

const COLUMNS = [
  { label: "raised", render: (a) => html`<${Time} at=${a.created_at} />` },
  { label: "kind", render: (a) => html`<span class="mono">${a.kind}</span>` },
  {
    label: "message",
    render: (a) => html`<span class="alert-text" title=${a.text ?? ""}>${a.text ?? "–"}</span>`,
  },
  { label: "delivery", render: (a) => html`<${Delivery} alert=${a} />` },
  { label: "attempts", render: (a) => html`<${Attempts} attempts=${a.attempts} />` },
];

export function Alerts({ api }) {
  const { pager, poll } = usePagedPoll(api, "/alerts", 25, 15_000);
  const d = poll.data;
  const slack = slackStat(d?.slack);
  return html`
    <${Panel} title="Alerts" poll=${poll}>
      <div class="stats">
        <${Stat} label="Slack" value=${slack.value} tone=${slack.tone} hint=${slack.hint} />
        <${Stat} label="waiting to be delivered" value=${fmt.format(d?.undelivered ?? 0)}
          tone=${d?.undelivered ? "warn" : undefined} />
      </div>
      <${Table} rowKey=${(a) => a.id} rows=${d?.items} columns=${COLUMNS}
        empty="No alert has been raised." />
      <${Pager} pager=${pager} nextCursor=${d?.next_cursor} />
      </${Panel}>
  `;
}
