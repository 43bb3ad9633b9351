// Sources: sync a folder into a named source (only changed files are sent; per-file
// progress until indexed), each source's counts and runs, and erasing a source.
import { call } from "../api.js";
import { html, useState } from "../vendor.js";
import { batches, folderFiles, sendBatch } from "../uploads.js";
import { sha256OfBytes } from "../verify.js";
import {
  Erasure, ErasureReceipt, ErrorNote, Loading, Progress, Status, accessText, size, useFocus, useLoad, when,
} from "../ui.js";

const POLL_MS = 1000;
const MAX_POLL_MS = 5000; // each look is an audited read: look less often as a run drags on
const SETTLED_PHASES = new Set(["done", "abandoned"]);

export function SourcesPage() {
  const sources = useLoad(() => call("GET", "/v1/sources"), []);
  const [opened, setOpened] = useState(null);
  const [erased, setErased] = useState(null);
  const remove = async (name) => {
    if (!confirm(`Erase the source ${name} and every document of it?`)) return;
    try {
      setErased({ name, receipt: await call("DELETE", `/v1/sources/${encodeURIComponent(name)}`) });
      setOpened(null);
      sources.reload();
    } catch (error) {
      setErased({ name, error });
    }
  };
  return html`
    <${SyncPanel} onChange=${sources.reload} />
    <${Erasure} erased=${erased} what="the source " />
    <section aria-labelledby="sources-heading">
      <h2 id="sources-heading">All sources</h2>
      <${Loading} loading=${sources.loading} />
      <${ErrorNote} error=${sources.error} />
      ${sources.data && !sources.data.sources.length && html`<p class="muted">No sources yet: sync a folder above.</p>`}
      ${sources.data?.sources.length > 0 && html`<div class="scroll"><table>
        <thead><tr><th>Source</th><th>Documents</th><th>Readers</th><th>Last run</th><th><span class="sr-only">Actions</span></th></tr></thead>
        <tbody>${sources.data.sources.map((s) => html`<tr>
          <td>${s.name}</td>
          <td>${Object.entries(s.documents).map(([k, v]) => `${v} ${k}`).join(", ") || "none"}</td>
          <td>${accessText(s.access)}</td>
          <td>${s.last_run ? html`<${Status} value=${s.last_run.phase} /> ${when(s.last_run.created_at)}` : "—"}</td>
          <td class="actions">
            <button type="button" onClick=${() => setOpened(s.name)}>Runs<span class="sr-only"> of ${s.name}</span></button>
            <button type="button" class="danger" onClick=${() => remove(s.name)}>Delete<span class="sr-only"> ${s.name}</span></button>
          </td></tr>`)}</tbody></table></div>`}
    </section>
    ${opened && html`<${Runs} key=${opened} name=${opened} onClose=${() => setOpened(null)} />`}
  `;
}

async function manifestOf(items, onHashed) {
  const manifest = [];
  for (const [i, { file, name }] of items.entries()) {
    manifest.push({ path: name, sha256: await sha256OfBytes(await file.arrayBuffer()), size: file.size });
    onHashed(i + 1);
  }
  return manifest;
}

function SyncPanel({ onChange }) {
  const [rows, setRows] = useState([]);
  const [phase, setPhase] = useState(null);
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);
  const merge = (entries) =>
    setRows((all) => {
      const byPath = new Map(entries.map((e) => [e.path, e]));
      const known = new Set(all.map((r) => r.name));
      const added = entries.filter((e) => !known.has(e.path)).map((e) => ({ name: e.path, size: 0, sent: 1, entry: e }));
      return [...all.map((r) => (byPath.has(r.name) ? { ...r, entry: byPath.get(r.name) } : r)), ...added];
    });
  const sent = (name, fraction) => setRows((all) => all.map((r) => (r.name === name ? { ...r, sent: fraction } : r)));
  const run = async (form, dryRun) => {
    const name = form.elements.source.value.trim();
    const items = folderFiles(form.elements.folder.files);
    if (!name || !items.length) return setError({ message: "name the source and choose a folder" });
    setError(null);
    setBusy(true);
    try {
      setRows(items.map(({ file, name: path }) => ({ name: path, size: file.size, sent: 0, entry: null })));
      const manifest = await manifestOf(items, (n) => setPhase(`hashing ${n} of ${items.length}`));
      const path = `/v1/sources/${encodeURIComponent(name)}/runs`;
      const started = await call("POST", path, { json: { manifest, prune: form.elements.prune.checked, dry_run: dryRun } });
      merge(started.entries);
      if (dryRun) return setPhase(`plan: ${counts(started.counts)}`);
      await uploadNeeded(`${path}/${started.id}`, items, started.needed, { setPhase, sent, merge });
      setPhase("committing");
      await call("POST", `${path}/${started.id}/commit`);
      await settle(`${path}/${started.id}`, { setPhase, merge });
      onChange();
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  const submit = (dryRun) => (event) => {
    event.preventDefault();
    run(event.currentTarget.form ?? event.currentTarget, dryRun);
  };
  return html`<section class="panel" aria-labelledby="sync-heading">
    <h2 id="sync-heading">Sync a folder</h2>
    <p class="muted">The source mirrors the folder: new and changed files are sent (unchanged ones are not), and with “erase” ticked, documents whose files left the folder are erased once every upload landed.</p>
    <form class="upload" onSubmit=${submit(false)}>
      <label>Source name <input name="source" required /></label>
      <label>Folder <input type="file" name="folder" webkitdirectory=${true} multiple /></label>
      <label class="check"><input type="checkbox" name="prune" /> Erase documents whose files are gone from the folder</label>
      <div class="buttons">
        <button type="submit" disabled=${busy}>${busy ? "Syncing…" : "Sync"}</button>
        <button type="button" disabled=${busy} onClick=${submit(true)}>Plan only</button>
      </div>
    </form>
    <${ErrorNote} error=${error} />
    ${phase && html`<p role="status">${phase}</p>`}
    ${rows.length > 0 && html`<div class="scroll"><table class="uploads">
      <thead><tr><th>Path</th><th>Size</th><th>Action</th><th>Upload</th><th>Outcome</th></tr></thead>
      <tbody>${rows.map((row) => html`<tr data-file=${row.name}>
        <td>${row.name}</td><td class="nowrap">${size(row.size)}</td><td>${row.entry?.action ?? "…"}</td>
        <td><${Progress} value=${row.sent} max=${1} label=${`upload of ${row.name}`} /></td>
        <td><${Outcome} entry=${row.entry} /></td>
      </tr>`)}</tbody></table></div>`}
  </section>`;
}

function counts(byAction) {
  const nonzero = Object.entries(byAction).filter(([, v]) => v > 0);
  return nonzero.map(([k, v]) => `${v} ${k}`).join(", ") || "nothing to do";
}

async function uploadNeeded(runPath, items, needed, { setPhase, sent, merge }) {
  const wanted = new Set(needed);
  const todo = items.filter((item) => wanted.has(item.name));
  items.filter((item) => !wanted.has(item.name)).forEach((item) => sent(item.name, 1));
  let done = 0;
  for (const batch of batches(todo)) {
    setPhase(`uploading ${done + 1}–${done + batch.length} of ${todo.length}`);
    const answer = await sendBatch(`${runPath}/files`, batch, { onFile: (item, f) => sent(item.name, f) });
    merge(answer.entries);
    done += batch.length;
  }
}

async function settle(runPath, { setPhase, merge }) {
  for (let delay = POLL_MS; ; delay = Math.min(delay * 1.5, MAX_POLL_MS)) {
    const run = await call("GET", runPath, { query: { entries: 10000 } });
    merge(run.entries);
    setPhase(`${run.phase}: ${counts(run.counts)}`);
    if (SETTLED_PHASES.has(run.phase)) return run;
    await new Promise((resolve) => setTimeout(resolve, delay));
  }
}

function Outcome({ entry }) {
  if (!entry) return html`<span class="muted">…</span>`;
  const status = entry.document_status ?? entry.state;
  const reason = entry.error ?? entry.document_error;
  return html`<${Status} value=${status} />
    ${reason && html`<div class="error-text">${reason}</div>`}
    ${entry.receipt && html`<${ErasureReceipt} receipt=${entry.receipt} title=${`Erased ${entry.path}`} />`}`;
}

function Runs({ name, onClose }) {
  const base = `/v1/sources/${encodeURIComponent(name)}/runs`;
  const runs = useLoad(() => call("GET", base), [name]);
  const [opened, setOpened] = useState(null);
  const heading = useFocus([name]);
  const run = useLoad(() => (opened ? call("GET", `${base}/${opened}`) : Promise.resolve(null)), [opened]);
  return html`<section class="panel" aria-labelledby="runs-heading">
    <h2 id="runs-heading" tabindex="-1" ref=${heading}>Runs of ${name}</h2>
    <button type="button" class="close" onClick=${onClose}>Close</button>
    <${ErrorNote} error=${runs.error} />
    ${runs.data && html`<div class="scroll"><table>
      <thead><tr><th>Started</th><th>Phase</th><th>Counts</th><th>Erase gone files</th><th><span class="sr-only">Actions</span></th></tr></thead>
      <tbody>${runs.data.map((r) => html`<tr>
        <td>${when(r.created_at)}</td><td><${Status} value=${r.phase} /></td><td>${counts(r.counts)}</td>
        <td>${r.prune ? "yes" : "no"}</td>
        <td><button type="button" onClick=${() => setOpened(r.id)}>Details<span class="sr-only"> of the run of ${when(r.created_at)}</span></button></td>
      </tr>`)}</tbody></table></div>`}
    ${run.data && html`<h3>Run <code>${run.data.id}</code></h3>
      <ul class="job-docs">${run.data.entries.map((e) => html`<li>${e.action} ${e.path} <${Outcome} entry=${e} /></li>`)}</ul>`}
  </section>`;
}
