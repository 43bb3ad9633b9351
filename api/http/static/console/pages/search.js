// The search playground: each hit with its citation; open the document at the cited span
// (its SHA-256 checked here); verify the search's signed receipt against the service's keys.
import { call } from "../api.js";
import { html, useEffect, useRef, useState } from "../vendor.js";
import { citedSpan, sha256Hex, verifyReceipt } from "../verify.js";
import { ErrorNote, list, useAction } from "../ui.js";

export function SearchPage() {
  const search = useAction((body) => call("POST", "/v1/search", { json: body }));
  const [asked, setAsked] = useState(null);
  const submit = (event) => {
    event.preventDefault();
    const body = searchBody(new FormData(event.currentTarget));
    setAsked(body);
    search.run(body);
  };
  return html`
    <form class="search" onSubmit=${submit} aria-label="Search">
      <${SearchFields} />
      <button type="submit" disabled=${search.busy}>${search.busy ? "Searching…" : "Search"}</button>
    </form>
    <${ErrorNote} error=${search.error} />
    ${search.result && html`<${SearchResults} search=${search.result} query=${asked.query} />`}
  `;
}

/** The request body from the search fields' form data. */
export function searchBody(form) {
  const filter = {};
  for (const name of ["tags", "media_types", "document_ids"]) {
    const values = list(form.get(name) ?? "");
    if (values.length) filter[name] = values;
  }
  // The service strips the query and signs the stripped text's hash: send that text.
  const body = { query: form.get("query").trim(), mode: form.get("mode"), top_k: Number(form.get("top_k")) };
  if (form.get("rerank")) body.rerank = true;
  if (Object.keys(filter).length) body.filter = filter;
  return body;
}

export function SearchFields() {
  return html`<div class="fields">
    <label class="wide">Query <input name="query" required maxlength="2000" /></label>
    <label>Mode <select name="mode">
      <option value="hybrid">hybrid</option><option value="dense">dense</option><option value="sparse">sparse</option>
    </select></label>
    <label>Top k <input name="top_k" type="number" min="1" max="50" value="5" /></label>
    <label>Tags <input name="tags" placeholder="comma-separated" /></label>
    <label>Media types <input name="media_types" placeholder="e.g. application/pdf" /></label>
    <label>Document ids <input name="document_ids" placeholder="comma-separated" /></label>
    <label class="check"><input type="checkbox" name="rerank" /> Rerank</label>
  </div>`;
}

export function SearchResults({ search, query }) {
  const [opened, setOpened] = useState(null);
  return html`<section aria-labelledby="results-heading">
    <h2 id="results-heading">${search.results.length} results</h2>
    <p class="muted">Search <code>${search.search_id}</code></p>
    <${ReceiptCheck} search=${search} query=${query} />
    <ol class="hits">${search.results.map((hit) => html`<li class="hit">
      <header>
        <strong>${hit.citation.filename}</strong>
        <span class="muted">v${hit.citation.version}${pages(hit.citation)}${hit.citation.section ? ` · ${hit.citation.section}` : ""} · score ${hit.score.toFixed(3)}</span>
      </header>
      <p class="hit-text">${hit.text}</p>
      <p class="muted">characters ${hit.citation.char_start}–${hit.citation.char_end} · chunk <code>${hit.chunk_id}</code></p>
      <button type="button" aria-expanded=${opened === hit} onClick=${() => setOpened(opened === hit ? null : hit)}>Open cited span<span class="sr-only"> of result ${hit.rank}</span></button>
      ${opened === hit && html`<${CitedDocument} hit=${hit} onClose=${() => setOpened(null)} />`}
    </li>`)}</ol>
  </section>`;
}

function pages({ page_start: start, page_end: end }) {
  if (start === null || start === undefined) return "";
  return start === end ? ` · page ${start}` : ` · pages ${start}–${end}`;
}

function CitedDocument({ hit, onClose }) {
  const [state, setState] = useState(null);
  const mark = useRef(null);
  useEffect(() => {
    let live = true;
    (async () => {
      try {
        const text = await call("GET", `/v1/documents/${hit.citation.document_id}/text`, { text: true });
        const parts = citedSpan(text, hit.citation);
        const digest = await sha256Hex(parts.span);
        if (live) setState({ parts, ok: digest === hit.citation.chunk_sha256 && parts.span === hit.text, digest });
      } catch (error) {
        if (live) setState({ error });
      }
    })();
    return () => { live = false; };
  }, [hit]);
  useEffect(() => mark.current?.scrollIntoView({ block: "center" }), [state]);
  return html`<section class="panel viewer" aria-labelledby="viewer-heading">
    <h2 id="viewer-heading">${hit.citation.filename}, as cited by result ${hit.rank}</h2>
    <button type="button" class="close" onClick=${onClose}>Close</button>
    ${state?.error && html`<${ErrorNote} error=${state.error} />`}
    ${state?.parts && html`
      <p class=${state.ok ? "ok" : "error"} role="status" data-check="span">
        ${state.ok ? "✓ The cited span's SHA-256 matches the citation's chunk_sha256" : "✗ The cited span does not match the citation's chunk_sha256"}
        <br /><code>${state.digest}</code></p>
      <pre class="doc-text">${state.parts.before}<mark ref=${mark}>${state.parts.span}</mark>${state.parts.after}</pre>`}
  </section>`;
}

function ReceiptCheck({ search, query }) {
  const check = useAction(async () => verifyReceipt(search, await call("GET", "/.well-known/jwks.json"), query));
  useEffect(() => {
    check.run();
  }, [search]);
  const result = check.result;
  return html`<details class="receipt-check" open=${Boolean(result && !result.ok)}>
    <summary>Receipt: ${check.busy ? "verifying…" : result ? (result.ok ? `✓ verified (${result.checks.length} checks)` : "✗ does not verify") : "—"}</summary>
    <${ErrorNote} error=${check.error} />
    ${result && html`<ul class="checks" data-verified=${String(result.ok)}>
      ${result.checks.map((c) => html`<li class=${c.ok ? "ok" : "error"}>${c.ok ? "✓" : "✗"} ${c.label}</li>`)}
    </ul>
    ${result.payload && html`<p class="muted">Audit event ${result.payload.audit?.seq} · model ${result.payload.model}</p>
      <pre class="json">${JSON.stringify(result.payload, null, 2)}</pre>`}`}
    <button type="button" onClick=${() => check.run()}>Verify again</button>
  </details>`;
}
