// Audit: the tenant's hash-chained events (filter, page) and a verification of the chain
// against the signed checkpoints kept outside the database.
import { call } from "../api.js";
import { html, useState } from "../vendor.js";
import { ErrorNote, Loading, useAction, useLoad, when } from "../ui.js";

export function AuditPage() {
  const [filter, setFilter] = useState({});
  const [pages, setPages] = useState([0]);
  const verify = useAction(() => call("GET", "/v1/audit/verify"));
  const submit = (event) => {
    event.preventDefault();
    const data = new FormData(event.currentTarget);
    const iso = (name) => (data.get(name) ? new Date(data.get(name)).toISOString() : undefined);
    setFilter({ action: data.get("action").trim(), since: iso("since"), until: iso("until") });
    setPages([0]);
  };
  return html`
    <section class="panel" aria-labelledby="verify-heading">
      <h2 id="verify-heading">Verify the chain</h2>
      <button type="button" onClick=${() => verify.run()} disabled=${verify.busy}>${verify.busy ? "Verifying…" : "Verify"}</button>
      <${ErrorNote} error=${verify.error} />
      ${verify.result && html`<${Verification} result=${verify.result} />`}
    </section>
    <section aria-labelledby="events-heading">
      <h2 id="events-heading">Events</h2>
      <form class="inline" onSubmit=${submit} aria-label="Filter events">
        <label>Action <input name="action" placeholder="e.g. search" /></label>
        <label>Since <input name="since" type="datetime-local" /></label>
        <label>Until <input name="until" type="datetime-local" /></label>
        <button type="submit">Filter</button>
      </form>
      <div class="scroll"><table class="audit">
        <thead><tr><th>Seq</th><th>When</th><th>Action</th><th>Role</th><th>Outcome</th><th>Targets</th><th>Details</th></tr></thead>
        ${pages.map((after, i) => html`<${EventPage} filter=${filter} after=${after} last=${i === pages.length - 1}
          onMore=${(next) => setPages([...pages, next])} />`)}
      </table></div>
    </section>
  `;
}

function Verification({ result }) {
  return html`<div class=${result.ok ? "ok" : "error"} role="status" data-verified=${String(result.ok)}>
    <p>${result.ok ? "✓ The chain verifies" : `✗ The chain breaks at event ${result.first_broken_seq}`}</p>
    <dl class="facts">
      <div><dt>Events</dt><dd>${result.events}</dd></div>
      <div><dt>Signed checkpoints</dt><dd>${result.checkpoints}</dd></div>
      <div><dt>Proven up to seq</dt><dd>${result.anchored_seq ?? "—"}</dd></div>
      ${!result.ok && html`<div><dt>First bad seq</dt><dd>${result.first_broken_seq}</dd></div><div><dt>Reason</dt><dd>${result.reason}</dd></div>`}
    </dl>
  </div>`;
}

function EventPage({ filter, after, last, onMore }) {
  const events = useLoad(() => call("GET", "/v1/audit", { query: { ...filter, after_seq: after, limit: 100 } }), [filter, after]);
  return html`<tbody>
    ${events.loading && html`<tr><td colspan="7"><${Loading} loading=${true} /></td></tr>`}
    ${events.error && html`<tr><td colspan="7"><${ErrorNote} error=${events.error} /></td></tr>`}
    ${events.data?.events.map((e) => html`<tr>
      <td>${e.seq}</td><td>${when(e.at)}</td><td>${e.action}</td><td>${e.role ?? "—"}</td><td>${e.outcome}</td>
      <td class="ids">${e.targets.join(", ")}</td>
      <td><details><summary>details</summary><pre class="json">${JSON.stringify({ ...e.details, key_id: e.key_id, request_id: e.request_id, hash: e.hash }, null, 2)}</pre></details></td>
    </tr>`)}
    ${last && events.data?.next_after_seq != null && html`<tr><td colspan="7">
      <button type="button" onClick=${() => onMore(events.data.next_after_seq)}>More events</button></td></tr>`}
  </tbody>`;
}
