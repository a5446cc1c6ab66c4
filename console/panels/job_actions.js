/**
 * Retry (a failed job) and Cancel (a pending one): only for an operator, only in the state that
 * allows it; console-api refuses anything else anyway (403 for a viewer, 409 for the state).
 */
import { html } from "../vendor/preact-htm.mjs";
import { ActionButton } from "../lib/ui.js";

export function JobActions({ api, me, job, onDone }) {
  if (!me.may_act) return null;
  if (job.status === "failed") {
    return html`<${ActionButton} label="Retry" action=${() =>
      api.post(`/jobs/${job.id}/retry`)} onDone=${onDone} />`;
  }
  if (job.status === "pending") {
    return html`<${ActionButton} label="Cancel" danger confirm=${`Cancel job ${job.id}? It will be marked failed.`} action=${() =>
      api.post(`/jobs/${job.id}/cancel`)} onDone=${onDone} />`;
  }
  return null;
}
