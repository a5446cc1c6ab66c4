/**
 * Rate limits: the requests each function's limiter refused over 1 h / 24 h / 7 d, per function
 * and policy, and the 20 clients refused most, so an operator can tell one noisy client from a
 * limit set too low for everyone. Clients are SHA-256 hash prefixes (never an address or key),
 * named by customer or API key where known.
 */
import { html, useState } from "../vendor/preact-htm.mjs";
import { usePoll } from "../lib/poll.js";
import { Chart } from "../lib/chart.js";
import { href } from "../lib/route.js";
import { duration, fmt, Panel, Table, Time, WindowButtons } from "../lib/ui.js";

const SPAN = { "1h": 3_600, "24h": 86_400, "7d": 604_800 };

/**
 * Every step of the window, oldest first, zero where nothing was refused (the API lists only
 * the steps with refusals). `lines`: [[field, points]]. Steps align to the epoch, as date_bin's.
 */
function fill(window, step, lines) {
  const byAt = new Map();
  const last = Math.floor(Date.now() / 1000 / step) * step;
  for (let t = last - SPAN[window] + step; t <= last; t += step) byAt.set(t, {});
  for (const [field, points] of lines) {
    for (const p of points ?? []) {
      const t = Date.parse(p.at) / 1000;
      byAt.set(t, { ...byAt.get(t), [field]: p.refused });
    }
  }
  return [...byAt.entries()].sort((a, b) => a[0] - b[0])
    .map(([t, v]) => ({ at: new Date(t * 1000).toISOString(), ...v }));
}

/** A client's refusals per step as small bars (SVG, drawn in the text colour). */
function Spark({ points }) {
  const peak = Math.max(0, ...points.map((p) => p.refused ?? 0));
  const w = 120, h = 24, bar = w / points.length;
  const bars = points.map((p, i) => {
    const v = ((p.refused ?? 0) / (peak || 1)) * h;
    return v
      ? html`<rect x=${i * bar} y=${h - v} width=${Math.max(bar * 0.8, 1.5)} height=${v} />`
      : null;
  });
  const label = `at most ${fmt.format(peak)} refused per step`;
  return html`
    <svg class="spark" viewBox=${`0 0 ${w} ${h}`} preserveAspectRatio="none" role="img"
      aria-label=${label}><title>${label}</title>${bars}</svg>
  `;
}

const POLICIES = [
  { label: "function", render: (p) => p.function },
  { label: "policy", render: (p) => p.policy },
  { label: "refused", render: (p) => fmt.format(p.refused) },
];

const CLIENTS = [
  { label: "kind", render: (c) => c.kind },
  {
    label: "client",
    render: (c) => html`<span class="mono" title="start of its SHA-256 hash">${c.client}</span>`,
  },
  {
    label: "customer",
    render: (c) =>
      c.customer_id
        ? html`<a href=${href("jobs", { customer_id: c.customer_id })}>${c.customer_id}</a>`
        : html`<span class="muted">–</span>`,
  },
  { label: "API key", render: (c) => c.key_name ?? html`<span class="muted">–</span>` },
  {
    label: "where",
    render: (c) => `${(c.functions ?? []).join(", ")} (${(c.policies ?? []).join(", ")})`,
  },
  { label: "refused", render: (c) => html`<strong>${fmt.format(c.refused)}</strong>` },
];

export function RateLimits({ api, route }) {
  const [window, setWindow] = useState(SPAN[route.params.window] ? route.params.window : "1h");
  const poll = usePoll(() => api.get("/rate-limits", { window }), [window], 30_000);
  const d = poll.data;
  const step = d?.step_seconds ?? 60;
  const policies = d?.policies ?? [];
  const series = policies.map((p) => ({
    field: `${p.function}/${p.policy}`,
    label: `${p.function}/${p.policy}`,
  }));
  const points = d
    ? fill(window, step, policies.map((p) => [`${p.function}/${p.policy}`, p.points]))
    : [];
  const total = policies.reduce((sum, p) => sum + p.refused, 0);
  const tools = html`<${WindowButtons} value=${window} onChange=${setWindow} />`;
  const summary = `${fmt.format(total)} requests refused over ${window} (per ${duration(step)}).`;
  const chart = series.length
    ? html`<${Chart} points=${points} series=${series} label=${`Refusals over ${window}`} />`
    : html`<p class="muted empty">Nothing was refused in this window.</p>`;
  return html`<${Panel} title="Rate limits" poll=${poll} tools=${tools}>
    <p class="muted" data-refused=${total}>${summary}</p>
    ${chart}
    <h3>By function and policy</h3>
    <${Table} rowKey=${(p) => `${p.function}/${p.policy}`} rows=${policies} empty="No refusals."
      columns=${[
    ...POLICIES,
    { label: "share", render: (p) => `${Math.round((p.refused / (total || 1)) * 100)} %` },
  ]} />
    <h3>Clients refused most</h3>
    <${Table} rowKey=${(c) => `${c.kind}:${c.client}`} rows=${d?.top_clients}
      empty="No client was refused." columns=${[
    ...CLIENTS,
    {
      label: `over ${window}`,
      render: (c) => html`<${Spark} points=${fill(window, step, [["refused", c.points]])} />`,
    },
    { label: "last refused", render: (c) => html`<${Time} at=${c.last_refused_minute} />` },
  ]} />
  </${Panel}>`;
}
