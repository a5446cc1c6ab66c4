/**
 * One job: its state and numbers, progress, error, the timeline of every event (claims, failures,
 * recoveries, retries), its outbox rows (the SQS sends) and any dead letters, with Retry or Cancel
 * when the role and the job's state allow.
 */
import { html } from "../vendor/preact-htm.mjs";
import { usePoll } from "../lib/poll.js";
import { href } from "../lib/route.js";
import { Badge, duration, fmt, Json, Panel, Table, Time } from "../lib/ui.js";
import { JobActions } from "./job_actions.js";

/** What the worker last reported: a bar when it gave a total, its note, and when. */
function Progress({ progress: p }) {
  if (!p) return html`<p class="muted">No progress reported.</p>`;
  const count = p.total ? `${fmt.format(p.done ?? 0)} of ${fmt.format(p.total)}` : "";
  return html`<div>${
    p.total ? html`<progress value=${p.done ?? 0} max=${p.total}></progress>` : null
  }<p>${
    [count, p.note].filter(Boolean).join(": ")
  }${" "}<span class="muted">(<${Time} at=${p.at} />)</span></p></div>`;
}

export function JobDetail({ api, me, route }) {
  const id = route.rest[0];
  const poll = usePoll(() => api.get(`/jobs/${id}`), [id], 5_000);
  const d = poll.data;
  const job = d?.job;
  const tools = job
    ? html`<${JobActions} api=${api} me=${me} job=${job} onDone=${poll.refresh} />`
    : null;
  return html`<${Panel} title=${html`Job <span class="mono">${id}</span>`} poll=${poll} tools=${tools}>
    <p><a href=${href("jobs")}>← Jobs</a></p>
    ${
    job
      ? html`
        <div class="cols">
          <dl class="facts">
            <dt>status</dt><dd><${Badge} value=${job.status} /></dd>
            <dt>customer</dt><dd><a href=${href("jobs", { customer_id: job.customer_id })}>${job
              .customer_id}</a></dd>
            <dt>priority</dt><dd>${job.priority_level}${job.priority_tier
              ? ` (${job.priority_tier})`
              : ""}, lane ${job.lane}</dd>
            <dt>attempts</dt><dd>${job.attempts}${job.stale_recoveries
              ? `, recovered ${job.stale_recoveries}× from silent workers`
              : ""}</dd>
            <dt>created</dt><dd><${Time} at=${job.created_at} /></dd>
            <dt>run after</dt><dd><${Time} at=${job.run_after} /></dd>
            <dt>leased</dt><dd>${job.leased_by
              ? html`${job.leased_by}, <${Time} at=${job.leased_at} />`
              : "–"}</dd>
            <dt>last heartbeat</dt><dd><${Time} at=${job.heartbeat_at} /> (stale after ${duration(
              d.stale_threshold_seconds,
            )})</dd>
            <dt>completed</dt><dd><${Time} at=${job.completed_at} /></dd>
            <dt>idempotency key</dt><dd>${job.idempotency_key ?? "–"}</dd>
            <dt>package size</dt><dd>${job.package_size === null
              ? "–"
              : fmt.format(job.package_size)}</dd>
            ${job.capped_at
              ? html`
                <dt>held by customer cap</dt>
                <dd>
                  <${Time} at=${job.capped_at} />
                </dd>
              `
              : null}
          </dl>
          <div>
            ${job.error_message
              ? html`
                <h3>Error</h3>
                <p class="problem">${job.error_message}</p>
              `
              : null}
            <h3>Progress</h3>
            <${Progress} progress=${job.progress} />
          </div>
        </div>
        <h3>Timeline</h3>
        <${Table} rowKey=${(e) => e.id} rows=${d.history}
          empty="No events recorded (history is pruned after its retention)." columns=${[
            { label: "when", render: (e) => html`<${Time} at=${e.created_at} />` },
            { label: "event", render: (e) => html`<${Badge} value=${e.event} />` },
            { label: "attempt", render: (e) => e.attempt },
            { label: "worker", render: (e) => e.worker_id ?? "–" },
            { label: "reason", render: (e) => e.reason ?? "" },
          ]} />
        <div class="cols">
          <div>
            <h3>Payload</h3>
            <${Json} value=${job.payload} />
          </div>
          <div>
            <h3>Result</h3>
            <${Json} value=${job.result} />
          </div>
        </div>
        <h3>Sends to SQS (outbox)</h3>
        <${Table} rowKey=${(o) => o.id} rows=${d.outbox} empty="No outbox rows." columns=${[
          { label: "queued", render: (o) => html`<${Time} at=${o.created_at} />` },
          {
            label: "delivered",
            render: (o) => (o.delivered_at
              ? html`<${Time} at=${o.delivered_at} />`
              : html`<${Badge} value="waiting" />`),
          },
          {
            label: "tries",
            render: (o) => o.tries,
          },
          {
            label: "message",
            render: (o) => html`<span class="mono">${o.message_id ?? "–"}</span>`,
          },
          { label: "last error", render: (o) => o.last_error ?? "" },
        ]} />
        <h3>Dead letters</h3>
        <${Table} rowKey=${(l) => l.message_id ?? l.id} rows=${d
          .dead_letters} empty="None." columns=${[
          { label: "first seen", render: (l) => html`<${Time} at=${l.first_seen_at} />` },
          { label: "action", render: (l) => html`<${Badge} value=${l.action ?? "recorded"} />` },
          { label: "receives", render: (l) => l.receive_count ?? "–" },
          {
            label: "message",
            render: (l) => html`<span class="mono">${l.message_id ?? "–"}</span>`,
          },
        ]} />
      `
      : null
  }
  </${Panel}>`;
}
