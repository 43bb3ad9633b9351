// Keys: the tenant's keys (never their secrets), issuing one (shown once) and revoking one.
import { call } from "../api.js";
import { html, useState } from "../vendor.js";
import { ErrorNote, Loading, Status, list, useAction, useLoad, when } from "../ui.js";

export function KeysPage() {
  const keys = useLoad(() => call("GET", "/v1/keys"), []);
  const [issued, setIssued] = useState(null);
  const revoke = useAction(async (key) => {
    if (!confirm(`Revoke the key ${key.name} (${key.prefix}…)? It stops working on its next request.`)) return null;
    const revoked = await call("DELETE", `/v1/keys/${key.id}`);
    keys.reload();
    return revoked;
  });
  return html`
    <${IssueForm} onIssued=${(key) => { setIssued(key); keys.reload(); }} />
    ${issued && html`<div class="notice new-key" role="status">
      <p>New ${issued.role} key <strong>${issued.name}</strong>. Copy it now: it is shown this once.</p>
      <p><code class="secret" data-key="new">${issued.key}</code>
        <button type="button" onClick=${() => navigator.clipboard?.writeText(issued.key)}>Copy</button>
        <button type="button" onClick=${() => setIssued(null)}>Done</button></p>
    </div>`}
    ${revoke.result && html`<p class="notice" role="status">Revoked ${revoke.result.name} (${revoke.result.prefix}…).</p>`}
    <${ErrorNote} error=${revoke.error} />
    <section aria-labelledby="keys-heading">
      <h2 id="keys-heading">Keys of this tenant</h2>
      <${Loading} loading=${keys.loading} />
      <${ErrorNote} error=${keys.error} />
      ${keys.data && html`<div class="scroll"><table>
        <thead><tr><th>Name</th><th>Key</th><th>Role</th><th>Identity</th><th>Created</th><th>Expires</th><th>State</th><th><span class="sr-only">Actions</span></th></tr></thead>
        <tbody>${keys.data.map((key) => html`<tr data-key-id=${key.id}>
          <td>${key.name}</td><td><code>${key.prefix}…</code></td><td>${key.role}</td>
          <td>${identity(key)}</td><td>${when(key.created_at)}</td><td>${when(key.expires_at)}</td>
          <td><${Status} value=${key.revoked_at ? "revoked" : "active"} /></td>
          <td>${!key.revoked_at && html`<button type="button" class="danger" onClick=${() => revoke.run(key)}>Revoke<span class="sr-only"> ${key.name}</span></button>`}</td>
        </tr>`)}</tbody></table></div>`}
    </section>
  `;
}

function identity(key) {
  if (key.delegate) return "delegates (Enclave-Act-As)";
  if (!key.user) return key.role === "admin" ? "the whole tenant" : "tenant-wide documents";
  return key.groups.length ? `${key.user} (${key.groups.join(", ")})` : key.user;
}

function IssueForm({ onIssued }) {
  const issue = useAction((body) => call("POST", "/v1/keys", { json: body }));
  const [role, setRole] = useState("reader");
  const submit = async (event) => {
    event.preventDefault();
    const form = event.currentTarget;
    const data = new FormData(form);
    const body = { role, name: data.get("name").trim() };
    if (role === "reader") {
      const user = data.get("user").trim();
      if (user) Object.assign(body, { user, groups: list(data.get("groups")) });
      if (data.get("delegate")) body.delegate = true;
    }
    if (data.get("expires")) body.expires_at = new Date(data.get("expires")).toISOString();
    const key = await issue.run(body);
    if (key) {
      form.reset();
      onIssued(key);
    }
  };
  return html`<section class="panel" aria-labelledby="issue-heading">
    <h2 id="issue-heading">Issue a key</h2>
    <form class="upload" onSubmit=${submit}>
      <label>Name <input name="name" required maxlength="100" /></label>
      <label>Role <select name="role" value=${role} onChange=${(e) => setRole(e.currentTarget.value)}>
        <option value="reader">reader</option><option value="admin">admin</option>
      </select></label>
      ${role === "reader" && html`
        <label>End user (optional) <input name="user" /></label>
        <label>Their groups (comma-separated) <input name="groups" /></label>
        <label class="check"><input type="checkbox" name="delegate" /> Delegate: serves many end users, each named per request</label>`}
      <label>Expires (optional) <input name="expires" type="datetime-local" /></label>
      <button type="submit" disabled=${issue.busy}>Issue key</button>
    </form>
    <${ErrorNote} error=${issue.error} />
  </section>`;
}
