/** The small pieces every panel is built from. */
import { html, useState } from "../vendor/preact-htm.mjs";

export const fmt = new Intl.NumberFormat();

/** "12 s", "4 min", "3 h", "2 d". */
export function duration(seconds) {
  if (seconds === null || seconds === undefined || Number.isNaN(seconds)) return "–";
  const s = Math.abs(seconds);
  if (s < 1) return `${Math.round(s * 1000)} ms`;
  if (s < 90) return `${Math.round(s)} s`;
  if (s < 90 * 60) return `${Math.round(s / 60)} min`;
  if (s < 36 * 3600) return `${(s / 3600).toFixed(1)} h`;
  return `${(s / 86400).toFixed(1)} d`;
}

/** A time as "4 min ago", the exact time on hover. */
export function Time({ at }) {
  if (!at) return html`<span class="muted">–</span>`;
  const seconds = (Date.now() - Date.parse(at)) / 1000;
  const text = seconds >= 0 ? `${duration(seconds)} ago` : `in ${duration(-seconds)}`;
  return html`<time datetime=${at} title=${new Date(at).toLocaleString()}>${text}</time>`;
}

/** A status word in its colour (completed, failed, pass, warn, ...). */
export function Badge({ value }) {
  return html`<span class=${`badge badge-${String(value).replace(/[^a-z_]/gi, "")}`}>${
    String(value).replace(/_/g, " ")
  }</span>`;
}

export function Stat({ label, value, hint, tone }) {
  return html`<div class=${`stat ${tone ? `tone-${tone}` : ""}`}>
    <div class="stat-value">${value}</div>
    <div class="stat-label">${label}</div>
    ${hint ? html`<div class="stat-hint muted">${hint}</div>` : null}
  </div>`;
}

/** columns: [{ label, render(row) }]; rowKey(row) gives each row's key. */
export function Table({ columns, rows, rowKey, empty = "Nothing here.", caption }) {
  if (!rows?.length) return html`<p class="muted empty">${empty}</p>`;
  return html`
    <div class="table-wrap">
      <table>
        ${caption ? html`<caption>${caption}</caption>` : null}
        <thead><tr>${columns.map((c) => html`<th scope="col">${c.label}</th>`)}</tr></thead>
        <tbody>${rows.map((row) =>
          html`<tr key=${rowKey(row)}>${columns.map((c) => html`<td>${c.render(row)}</td>`)}</tr>`
        )}</tbody>
      </table>
    </div>
  `;
}

/** What a failed call said, in words (a 429 says when to try again). */
export function Problem({ error }) {
  if (!error) return null;
  const wait = error.retryAfter ? ` Try again in ${error.retryAfter} s.` : "";
  return html`<p class="problem api-error" role="alert">${error.message}${wait}</p>`;
}

export function Json({ value }) {
  if (value === null || value === undefined) return html`<span class="muted">–</span>`;
  return html`<pre class="json">${JSON.stringify(value, null, 2)}</pre>`;
}

/**
 * A panel's frame: its title, a refresh button, `lead` (shown even before the first data, as
 * the Jobs filters must be, to correct a filter that failed), and the error of the last fetch
 * (the previous data stays on screen).
 */
export function Panel({ title, poll, tools, lead, children }) {
  return html`<section class="panel" aria-busy=${poll?.loading && !poll?.data ? "true" : "false"}>
    <header class="panel-head">
      <h2>${title}</h2>
      <div class="panel-tools">${tools}${
    poll ? html`<button class="secondary small" onClick=${poll.refresh}>Refresh</button>` : null
  }</div>
    </header>
    ${lead}
    <${Problem} error=${poll?.error} />
    ${poll && poll.data === undefined && !poll.error ? html`<p class="muted">Loading…</p>` : null}
    ${poll && poll.data === undefined ? null : children}
  </section>`;
}

/**
 * Keyset pages: the API gives `next_cursor`; the cursors we came through are kept so "Newer"
 * goes back. usePager().params goes into the request, <Pager> below the table.
 */
export function usePager() {
  const [stack, setStack] = useState([]);
  const cursor = stack[stack.length - 1];
  return {
    cursor,
    page: stack.length + 1,
    next: (c) => setStack((s) => [...s, c]),
    back: () => setStack((s) => s.slice(0, -1)),
  };
}

export function Pager({ pager, nextCursor }) {
  if (pager.page === 1 && !nextCursor) return null;
  return html`
    <nav class="pager" aria-label="Pages">
      <button class="secondary small" disabled=${pager.page === 1} onClick=${pager
        .back}>← Newer</button>
      <span class="muted">page ${pager.page}</span>
      <button class="secondary small" disabled=${!nextCursor} onClick=${() =>
        pager.next(nextCursor)}>Older →</button>
    </nav>
  `;
}

/** A button that asks first (window.confirm), then runs `action` and shows what it answered. */
export function ActionButton({ label, confirm, action, onDone, danger }) {
  const [state, setState] = useState({ busy: false, error: undefined });
  const run = async () => {
    if (confirm && !globalThis.confirm(confirm)) return;
    setState({ busy: true });
    try {
      const result = await action();
      setState({ busy: false });
      onDone?.(result);
    } catch (error) {
      setState({ busy: false, error });
    }
  };
  return html`
    <span class="action">
      <button class=${`small ${danger ? "danger" : ""}`} disabled=${state
        .busy} aria-busy=${state.busy ? "true" : "false"}
        onClick=${run}>${label}</button>
      <${Problem} error=${state.error} />
    </span>
  `;
}

/** A job's short id, linking to its page; `none` when there is no job. */
export function JobLink({ id, none = "–" }) {
  if (!id) return html`<span class="muted">${none}</span>`;
  return html`<a href=${`#/jobs/${id}`} class="mono" title=${id}>${id.slice(0, 8)}</a>`;
}

/** <Time>, or `none` when there is no time. */
export function When({ at, none = "–" }) {
  return at ? html`<${Time} at=${at} />` : html`<span class="muted">${none}</span>`;
}

/** {status: "failed", lane: "low"} → "status=failed lane=low" (filters, audit targets). */
export function keyValues(obj) {
  return Object.entries(obj ?? {})
    .map(([k, v]) => `${k}=${typeof v === "object" ? JSON.stringify(v) : v}`)
    .join(" ");
}

/** The 1h / 24h / 7d switch of the panels with series. */
export function WindowButtons({ value, onChange }) {
  return html`<span class="row-actions" aria-label="Window">${
    ["1h", "24h", "7d"].map((w) =>
      html`
        <button key=${w} class=${`small ${
          w === value ? "" : "secondary"
        }`} aria-pressed=${w === value
          ? "true"
          : "false"}
          onClick=${() => onChange(w)}>${w}</button>
      `
    )
  }</span>`;
}
