// Documents: upload files or a folder (per-file progress until indexed), list, open, delete.
import { ApiError, call, follow } from "../api.js";
import { html, useState } from "../vendor.js";
import { batches, folderFiles, sendBatch } from "../uploads.js";
import {
  Erasure, ErrorNote, Loading, Pager, Progress, Status, accessText, list, size, useFocus, useLoad,
  when,
} from "../ui.js";

const STATUSES = ["", "queued", "processing", "ready", "failed", "superseded"];
// A batch refused as a whole for one file's sake is sent again file by file: the rest lands.
const PER_FILE_RETRY = new Set([413, 415, 422]);
const SETTLED = new Set(["ready", "failed", "refused"]);

export function DocumentsPage() {
  const [query, setQuery] = useState({ status: "", tag: "", offset: 0 });
  const [opened, setOpened] = useState(null);
  const [erased, setErased] = useState(null);
  const docs = useLoad(
    () => call("GET", "/v1/documents", { query: { ...query, limit: 50 } }),
    [query.status, query.tag, query.offset],
  );
  const remove = async (doc) => {
    if (!confirm(`Erase ${doc.path ?? doc.filename} (every version, its chunks, vectors and file)?`)) return;
    try {
      setErased({ name: doc.path ?? doc.filename, receipt: await call("DELETE", `/v1/documents/${doc.id}`) });
      if (opened === doc.id) setOpened(null);
      docs.reload();
    } catch (error) {
      setErased({ name: doc.path ?? doc.filename, error });
    }
  };
  return html`
    <${UploadPanel} onChange=${docs.reload} />
    <${Erasure} erased=${erased} />
    <section aria-labelledby="documents-heading">
      <h2 id="documents-heading">All documents</h2>
      <${DocumentFilter} query=${query} onChange=${(q) => setQuery({ ...q, offset: 0 })} />
      <${Loading} loading=${docs.loading} />
      <${ErrorNote} error=${docs.error} />
      ${docs.data && html`<${DocumentTable} documents=${docs.data.documents} onOpen=${setOpened} onDelete=${remove} />`}
      ${docs.data && html`<${Pager} offset=${query.offset} next=${docs.data.next_offset} onPage=${(offset) => setQuery({ ...query, offset })} />`}
    </section>
    ${opened && html`<${DocumentDetail} id=${opened} onClose=${() => setOpened(null)} />`}
  `;
}

function DocumentFilter({ query, onChange }) {
  const submit = (event) => {
    event.preventDefault();
    const form = new FormData(event.currentTarget);
    onChange({ status: form.get("status"), tag: form.get("tag").trim() });
  };
  return html`<form class="inline" onSubmit=${submit} aria-label="Filter documents">
    <label>Status <select name="status" value=${query.status}>
      ${STATUSES.map((s) => html`<option value=${s}>${s || "any"}</option>`)}
    </select></label>
    <label>Tag <input name="tag" value=${query.tag} /></label>
    <button type="submit">Filter</button>
  </form>`;
}

function DocumentTable({ documents, onOpen, onDelete }) {
  if (!documents.length) return html`<p class="muted">No documents here yet.</p>`;
  return html`<div class="scroll"><table>
    <thead><tr><th>Name</th><th>Status</th><th>Version</th><th>Chunks</th><th>Size</th><th>Readers</th><th>Added</th><th><span class="sr-only">Actions</span></th></tr></thead>
    <tbody>${documents.map((doc) => html`<tr>
      <td>${doc.path ?? doc.filename}${doc.error && html`<div class="error-text">${doc.error}</div>`}</td>
      <td><${Status} value=${doc.status} /></td>
      <td>${doc.version}</td>
      <td>${doc.chunk_count}</td>
      <td class="nowrap">${size(doc.size_bytes)}</td>
      <td>${accessText(doc.access)}</td>
      <td>${when(doc.created_at)}</td>
      <td class="actions">
        <button type="button" onClick=${() => onOpen(doc.id)}>Open<span class="sr-only"> ${doc.filename}</span></button>
        <button type="button" class="danger" onClick=${() => onDelete(doc)}>Delete<span class="sr-only"> ${doc.filename}</span></button>
      </td>
    </tr>`)}</tbody>
  </table></div>`;
}

function DocumentDetail({ id, onClose }) {
  const doc = useLoad(() => call("GET", `/v1/documents/${id}`), [id]);
  const text = useLoad(() => call("GET", `/v1/documents/${id}/text`, { text: true }), [id]);
  const heading = useFocus([id]);
  return html`<section class="panel" aria-labelledby="detail-heading">
    <h2 id="detail-heading" tabindex="-1" ref=${heading}>${doc.data ? doc.data.path ?? doc.data.filename : "Document"}</h2>
    <button type="button" class="close" onClick=${onClose}>Close</button>
    <${ErrorNote} error=${doc.error} />
    ${doc.data && html`<dl class="facts">
      <div><dt>Id</dt><dd><code>${doc.data.id}</code></dd></div>
      <div><dt>Type</dt><dd>${doc.data.media_type}</dd></div>
      <div><dt>SHA-256</dt><dd><code>${doc.data.sha256}</code></dd></div>
      <div><dt>Pages</dt><dd>${doc.data.page_count ?? "—"}</dd></div>
      <div><dt>Tags</dt><dd>${doc.data.tags.join(", ") || "—"}</dd></div>
      <div><dt>Readers</dt><dd>${accessText(doc.data.access)}</dd></div>
    </dl>`}
    <h3>Text</h3>
    <${ErrorNote} error=${text.error} />
    ${text.data !== null && html`<pre class="doc-text">${text.data}</pre>`}
  </section>`;
}

function UploadPanel({ onChange }) {
  const [rows, setRows] = useState([]);
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);
  const update = (id, change) =>
    setRows((all) => all.map((row) => (row.id === id ? { ...row, ...change(row) } : row)));
  const submit = async (event) => {
    event.preventDefault();
    const form = event.currentTarget;
    const chosen = [
      ...Array.from(form.elements.files.files, (file) => ({ file, name: file.name.normalize("NFC") })),
      ...folderFiles(form.elements.folder.files),
    ].map((item, id) => ({ ...item, id }));
    if (!chosen.length) return setError({ message: "choose files or a folder first" });
    const tags = list(form.elements.tags.value);
    const fields = tags.length ? { metadata: JSON.stringify({ tags }) } : {};
    setError(null);
    setBusy(true);
    setRows(chosen.map(({ file, name, id }) => ({ id, name, size: file.size, sent: 0, status: "uploading", docs: {} })));
    const follows = [];
    for (const batch of batches(chosen)) follows.push(...(await sendWithRetry(batch, fields, update)));
    await Promise.all(follows);
    setBusy(false);
    form.reset();
    onChange();
  };
  const settled = rows.filter((r) => SETTLED.has(r.status)).length;
  return html`<section aria-labelledby="upload-heading" class="panel">
    <h2 id="upload-heading">Upload</h2>
    <form onSubmit=${submit} class="upload">
      <label>Files <input type="file" name="files" multiple /></label>
      <label>Or a folder <input type="file" name="folder" webkitdirectory=${true} multiple /></label>
      <label>Tags (comma-separated) <input name="tags" /></label>
      <button type="submit" disabled=${busy}>${busy ? "Uploading…" : "Upload"}</button>
    </form>
    <${ErrorNote} error=${error} />
    ${rows.length > 0 && html`<p role="status">${settled} of ${rows.length} settled</p>
    <div class="scroll"><table class="uploads">
      <thead><tr><th>File</th><th>Size</th><th>Upload</th><th>Status</th></tr></thead>
      <tbody>${rows.map((row) => html`<tr key=${row.id} data-file=${row.name}>
        <td>${row.name}</td><td class="nowrap">${size(row.size)}</td>
        <td><${Progress} value=${row.sent} max=${1} label=${`upload of ${row.name}`} /></td>
        <td><${Status} value=${row.status} />${row.note ? ` (${row.note})` : ""}
          ${row.error && html`<div class="error-text">${row.error}</div>`}</td>
      </tr>`)}</tbody>
    </table></div>`}
  </section>`;
}

async function sendWithRetry(batch, fields, update) {
  const onFile = (item, sent) => update(item.id, () => ({ sent }));
  try {
    const answer = await sendBatch("/v1/documents", batch, { fields, onFile });
    return [watch(answer, batch, update)];
  } catch (error) {
    if (error instanceof ApiError && PER_FILE_RETRY.has(error.status) && batch.length > 1) {
      const follows = [];
      for (const item of batch) follows.push(...(await sendWithRetry([item], fields, update)));
      return follows;
    }
    const refused = () => ({ status: "refused", error: `${error.code}: ${error.message}` });
    batch.forEach(({ id }) => update(id, refused));
    return [];
  }
}

// Which row each document of an answer belongs to: one document per file, in order; an
// archive (sent alone) answers with one document per member, all on its row.
function owners(answer, batch) {
  const single = answer.documents.length === batch.length;
  return new Map(answer.documents.map((doc, i) => [doc.id, single ? batch[i].id : batch[0].id]));
}

// A row's status from its documents: settled once every one is ready or failed.
function summary(docs) {
  const all = Object.values(docs);
  const failed = all.filter((d) => d.status === "failed");
  const settled = all.every((d) => d.status === "ready" || d.status === "failed");
  let status = settled ? (failed.length === all.length ? "failed" : "ready") : "processing";
  if (all.every((d) => d.status === "queued")) status = "queued";
  const notes = [];
  if (all.length > 1) notes.push(`${all.length} documents`);
  if (all.some((d) => d.duplicate)) notes.push("already here");
  const error = failed.map((d) => (all.length > 1 ? `${d.filename}: ${d.error}` : d.error)).join("; ");
  return { status, note: notes.join(", "), error: error || null };
}

// Follow the upload's job until every document of it is ready or failed: the event stream,
// then long polls if the stream ended early (a proxy's timeout, a restart).
async function watch(answer, batch, update) {
  const owner = owners(answer, batch);
  const show = (documents) => {
    for (const doc of documents) {
      const id = owner.get(doc.id);
      if (id === undefined) continue;
      update(id, (row) => {
        const docs = { ...row.docs, [doc.id]: { ...row.docs[doc.id], ...doc } };
        return { docs, ...summary(docs) };
      });
    }
  };
  show(answer.documents);
  const path = `/v1/jobs/${answer.job_id}`;
  let settled = false;
  try {
    await follow(`${path}/events`, (name, job) => {
      show(job.documents);
      settled = name === "done";
    });
    while (!settled) {
      const job = await call("GET", path, { query: { wait: 30 } });
      show(job.documents);
      settled = job.status === "done" || job.status === "failed";
    }
  } catch (error) {
    batch.forEach(({ id }) => update(id, () => ({ error: `progress lost: ${error.message}` })));
  }
}
