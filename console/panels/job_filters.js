/**
 * The Jobs page's filters and its jump to one id. The fields are the operator's while they type
 * (the list below re-renders every poll); Apply puts them in the URL, which is the filter.
 */
import { html, useState } from "../vendor/preact-htm.mjs";
import { href, navigate } from "../lib/route.js";

export const FILTERS = [
  "status",
  "customer_id",
  "priority_level",
  "lane",
  "created_after",
  "created_before",
];

export function filterOf(params) {
  return Object.fromEntries(FILTERS.filter((k) => params[k]).map((k) => [k, params[k]]));
}

/** datetime-local (the operator's local time) ⇄ the ISO 8601 the API wants. */
const toIso = (local) => (local ? new Date(local).toISOString() : "");
const toLocal = (iso) => {
  if (!iso) return "";
  const d = new Date(iso);
  return new Date(d.getTime() - d.getTimezoneOffset() * 60_000).toISOString().slice(0, 16);
};

function options(values, label = (v) => v) {
  return [
    html`<option value="">any</option>`,
    ...values.map((v) => html`<option value=${v}>${label(v)}</option>`),
  ];
}

/** Each filter is a view of its own (app.js), so a new filter starts the fields afresh. */
export function Filters({ params }) {
  const [form, setForm] = useState(() => ({
    ...Object.fromEntries(FILTERS.map((k) => [k, params[k] ?? ""])),
    created_after: toLocal(params.created_after),
    created_before: toLocal(params.created_before),
    id: params.id ?? "",
  }));
  const field = (name) => ({
    name,
    value: form[name],
    onInput: (e) => setForm((f) => ({ ...f, [name]: e.target.value })),
  });
  const apply = (e) => {
    e.preventDefault();
    const { id: _id, ...filter } = form;
    navigate("jobs", {
      ...filter,
      created_after: toIso(form.created_after),
      created_before: toIso(form.created_before),
    });
  };
  const jump = (e) => {
    e.preventDefault();
    if (form.id.trim()) navigate("jobs", { id: form.id.trim() });
  };
  return html`
    <div>
      <form class="filters" onSubmit=${apply} aria-label="Filter jobs">
        <label>Status<select ...${field("status")}>${options([
          "pending",
          "in_progress",
          "failed",
          "completed",
        ], (s) => s.replace("_", " "))}</select></label>
        <label>Customer<input ...${field("customer_id")} placeholder="customer id" /></label>
        <label>Priority<select ...${field("priority_level")}>${options(
          Array.from({ length: 11 }, (_, i) => String(i)),
        )}</select></label>
        <label>Lane<select ...${field("lane")}>${options([
          "high",
          "default",
          "low",
        ])}</select></label>
        <label>Created after<input type="datetime-local" ...${field("created_after")} /></label>
        <label>Created before<input type="datetime-local" ...${field("created_before")} /></label>
        <div
          class="row-actions"><button type="submit" class="small">Apply</button><a href=${href(
            "jobs",
          )} role="button" class="secondary small">Clear</a></div>
      </form>
      <form class="filters" onSubmit=${jump} aria-label="Find a job by id">
        <label>Job id<input ...${field(
          "id",
        )} placeholder="00000000-0000-…" spellcheck="false" /></label>
        <div class="row-actions"><button type="submit" class="small secondary">Go to job</button></div>
      </form>
    </div>
  `;
}
