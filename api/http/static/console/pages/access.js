// Access: who may read each document, changing it, and searching as an end user would
// (through a short-lived reader key bound to that identity, revoked right after).
import { call } from "../api.js";
import { html, useState } from "../vendor.js";
import { ErrorNote, Loading, Pager, accessText, list, useAction, useFocus, useLoad } from "../ui.js";
import { SearchFields, SearchResults, searchBody } from "./search.js";

const PREVIEW_KEY_S = 600;
let revokeFailed = null;

export function AccessPage() {
  const [offset, setOffset] = useState(0);
  const docs = useLoad(() => call("GET", "/v1/documents", { query: { status: "ready", limit: 50, offset } }), [offset]);
  const [editing, setEditing] = useState(null);
  return html`
    <${SearchAs} />
    <section aria-labelledby="readers-heading">
      <h2 id="readers-heading">Who can read each document</h2>
      <${Loading} loading=${docs.loading} />
      <${ErrorNote} error=${docs.error} />
      ${docs.data && html`<div class="scroll"><table>
        <thead><tr><th>Document</th><th>Readers (admins always)</th><th><span class="sr-only">Actions</span></th></tr></thead>
        <tbody>${docs.data.documents.map((doc) => html`<tr>
          <td>${doc.path ?? doc.filename}</td><td>${accessText(doc.access)}</td>
          <td><button type="button" onClick=${() => setEditing(doc)}>Change<span class="sr-only"> who reads ${doc.filename}</span></button></td>
        </tr>`)}</tbody></table></div>
        <${Pager} offset=${offset} next=${docs.data.next_offset} onPage=${setOffset} />`}
    </section>
    ${editing && html`<${AccessForm} key=${editing.id} doc=${editing} onDone=${() => { setEditing(null); docs.reload(); }} />`}
  `;
}

function AccessForm({ doc, onDone }) {
  const save = useAction((access) => call("PATCH", `/v1/documents/${doc.id}`, { json: { access } }));
  const [everyone, setEveryone] = useState(!doc.access);
  const heading = useFocus([doc.id]);
  const submit = async (event) => {
    event.preventDefault();
    const data = new FormData(event.currentTarget);
    const access = everyone ? null : { users: list(data.get("users")), groups: list(data.get("groups")) };
    if (await save.run(access)) onDone();
  };
  return html`<section class="panel" aria-labelledby="access-heading">
    <h2 id="access-heading" tabindex="-1" ref=${heading}>Readers of ${doc.path ?? doc.filename}</h2>
    <form class="upload" onSubmit=${submit}>
      <fieldset><legend>Who may read it</legend>
        <label class="check"><input type="radio" name="scope" checked=${everyone} onChange=${() => setEveryone(true)} /> Everyone in the tenant</label>
        <label class="check"><input type="radio" name="scope" checked=${!everyone} onChange=${() => setEveryone(false)} /> Only these users and groups (none: admins only)</label>
      </fieldset>
      <label>Users (comma-separated) <input name="users" disabled=${everyone} value=${doc.access?.users.join(", ") ?? ""} /></label>
      <label>Groups (comma-separated) <input name="groups" disabled=${everyone} value=${doc.access?.groups.join(", ") ?? ""} /></label>
      <div class="buttons"><button type="submit" disabled=${save.busy}>Save</button>
        <button type="button" onClick=${onDone}>Cancel</button></div>
    </form>
    <${ErrorNote} error=${save.error} />
  </section>`;
}

async function searchAs(user, groups, body) {
  if (groups.length && !user) throw new Error("groups belong to an end user: name the user too");
  revokeFailed = null;
  const expires = new Date(Date.now() + PREVIEW_KEY_S * 1000).toISOString();
  const spec = { role: "reader", name: `console preview: ${user || "tenant-wide"}`.slice(0, 100), expires_at: expires };
  if (user) Object.assign(spec, { user, groups });
  const preview = await call("POST", "/v1/keys", { json: spec });
  const found = await call("POST", "/v1/search", { json: body, key: preview.key }).finally(() =>
    call("DELETE", `/v1/keys/${preview.id}`).catch(() => {
      revokeFailed = `the preview key ${preview.prefix}… could not be revoked: revoke it on the Keys page (it expires in ${PREVIEW_KEY_S / 60} minutes anyway)`;
    }),
  );
  return { ...found, warning: revokeFailed };
}

function SearchAs() {
  const search = useAction(searchAs);
  const [asked, setAsked] = useState(null);
  const submit = (event) => {
    event.preventDefault();
    const data = new FormData(event.currentTarget);
    const body = searchBody(data);
    const who = { user: data.get("as_user").trim(), groups: list(data.get("as_groups")) };
    setAsked({ ...who, query: body.query });
    search.run(who.user, who.groups, body);
  };
  return html`<section class="panel" aria-labelledby="search-as-heading">
    <h2 id="search-as-heading">Search as an end user</h2>
    <p class="muted">Shows what an agent acting for this person gets. The console issues a reader key bound to the identity (expiring in ${PREVIEW_KEY_S / 60} minutes), searches with it and revokes it; all three are in the audit log.</p>
    <form class="search" onSubmit=${submit} aria-label="Search as an end user">
      <div class="fields">
        <label>End user (empty: no identity) <input name="as_user" /></label>
        <label>Their groups (comma-separated) <input name="as_groups" /></label>
      </div>
      <${SearchFields} />
      <button type="submit" disabled=${search.busy}>Search as this user</button>
    </form>
    <${ErrorNote} error=${search.error} />
    ${search.result?.warning && html`<p class="warning" role="alert">${search.result.warning}</p>`}
    ${search.result && html`<p role="status">As <strong>${asked.user || "a reader without identity"}</strong>${asked.groups.length ? ` (groups ${asked.groups.join(", ")})` : ""}:</p>
      <${SearchResults} search=${search.result} query=${asked.query} />`}
  </section>`;
}
