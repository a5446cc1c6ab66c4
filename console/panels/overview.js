/**
 * The first screen: how many jobs are where, how long they wait (queue latency, not decoration),
 * what flowed through over 1 h / 24 h / 7 d, the lanes and the DLQ, and health's every check.
 * Figures above 10,000 are table-statistics estimates and say so (≈).
 */
import { html, useState } from "../vendor/preact-htm.mjs";
import { usePoll } from "../lib/poll.js";
import { Chart } from "../lib/chart.js";
import { Badge, duration, fmt, Panel, Stat, Table, Time, WindowButtons } from "../lib/ui.js";
import { href } from "../lib/route.js";

const STATUSES = ["pending", "in_progress", "failed", "completed"];
const FLOW = [
  { field: "enqueued", label: "enqueued" },
  { field: "completed", label: "completed" },
  { field: "failed", label: "failed" },
  { field: "retried", label: "retried" },
  { field: "recovered", label: "recovered" },
];

function count(entry) {
  if (!entry) return "–";
  return `${entry.exact ? "" : "≈ "}${fmt.format(entry.count)}`;
}

function ms(value) {
  return value === null || value === undefined ? "–" : duration(value / 1000);
}

function total(points, field) {
  return points.reduce((sum, p) => sum + (p[field] ?? 0), 0);
}

export function Overview({ api }) {
  const poll = usePoll(() => api.get("/overview"), [], 10_000);
  const [window, setWindow] = useState("1h");
  const o = poll.data;
  if (!o) return html`<${Panel} title="Overview" poll=${poll} />`;
  const points = o.series?.[window]?.points ?? [];
  const basis = Object.values(o.jobs).find((j) => !j.exact)?.basis;
  const checks = Object.entries(o.health?.checks ?? {}).flatMap(([name, list]) =>
    list.map((c) => ({ name: c.componentId ? `${name} (${c.componentId})` : name, ...c }))
  );
  return html`<${Panel} title="Overview" poll=${poll}>
    <div class="stats">
      ${
    STATUSES.map((s) =>
      html`<a href=${href("jobs", { status: s })} data-stat=${s} class="stat-link">
        <${Stat} label=${s.replace("_", " ")} value=${count(o.jobs[s])}
          tone=${s === "failed" && o.jobs[s]?.count ? "bad" : undefined} /></a>`
    )
  }
      <${Stat} label="oldest pending" value=${
    o.oldest_pending_at ? html`<${Time} at=${o.oldest_pending_at} />` : "none"
  } />
      <${Stat} label="queue latency p50 / p95" value=${`${ms(o.latency_1h?.p50_ms)} / ${
    ms(o.latency_1h?.p95_ms)
  }`} hint=${`last hour, ${fmt.format(o.latency_1h?.samples ?? 0)} jobs`} />
      <a href=${
    href("workers")
  } class="stat-link" data-stat="workers"><${Stat} label="workers active" value=${
    fmt.format(o.workers_active)
  } tone=${o.workers_active ? undefined : "warn"} /></a>
      <a href=${
    href("leases")
  } class="stat-link" data-stat="at-risk"><${Stat} label="leases at risk" value=${
    fmt.format(o.leases_at_risk)
  } tone=${o.leases_at_risk ? "bad" : undefined} /></a>
      <a href=${
    href("dlq")
  } class="stat-link" data-stat="dlq"><${Stat} label="dead letters (SQS)" value=${
    o.queues?.dlq === null || o.queues?.dlq === undefined ? "?" : fmt.format(o.queues.dlq)
  } tone=${o.queues?.dlq ? "bad" : undefined} /></a>
      <a href=${href("operations")} class="stat-link"><${Stat} label="operations running" value=${
    fmt.format(o.operations_running ?? 0)
  } /></a>
    </div>
    ${basis ? html`<p class="muted">≈ ${basis}</p>` : null}

    <div class="panel-head"><h3>Flow</h3>
      <div class="panel-tools"><${WindowButtons} value=${window} onChange=${setWindow} /></div>
    </div>
    <p class="muted">${
    FLOW.map((f) => `${f.label} ${fmt.format(total(points, f.field))}`).join(" · ")
  } (per ${
    duration(o.series?.[window]?.step_seconds ?? 60)
  }; counted up to <${Time} at=${o.stats_rolled_up_to} />)</p>
    <${Chart} points=${points} series=${FLOW} label=${`Jobs per step over ${window}`} />

    <div class="cols">
      <div>
        <h3>Queues</h3>
        <${Table} rowKey=${(r) => r.lane} columns=${[
    { label: "lane", render: (r) => r.lane },
    {
      label: "messages waiting",
      render: (r) => (r.depth === null ? "unknown" : fmt.format(r.depth)),
    },
  ]} rows=${[
    ...Object.entries(o.queues?.lanes ?? {}).map(([lane, depth]) => ({ lane, depth })),
    { lane: "dead letters", depth: o.queues?.dlq ?? null },
  ]} />
        <p class="muted">DLQ monitor last checked <${Time} at=${o.dlq?.checked_at} />${
    o.dlq?.incident_since ? html`; incident since <${Time} at=${o.dlq.incident_since} />` : ""
  }.</p>
      </div>
      <div>
        <h3>Health <${Badge} value=${o.health?.status ?? "unknown"} /></h3>
        ${o.health?.output ? html`<p class="muted">${o.health.output}</p>` : null}
        <${Table} rowKey=${(c) => c.name} columns=${[
    { label: "check", render: (c) => c.name },
    { label: "status", render: (c) => html`<${Badge} value=${c.status} />` },
    {
      label: "observed",
      render: (c) =>
        c.observedValue === null || c.observedValue === undefined
          ? "–"
          : /^\d{4}-\d\d-\d\dT/.test(String(c.observedValue))
          ? html`<${Time} at=${c.observedValue} />`
          : `${c.observedValue}${c.observedUnit ? ` ${c.observedUnit}` : ""}`,
    },
  ]} rows=${checks} />
      </div>
    </div>
  </${Panel}>`;
}
