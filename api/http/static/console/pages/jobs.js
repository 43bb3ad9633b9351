// Jobs: every upload's ingestion, newest first, refreshed while one is still running.
import { call } from "../api.js";
import { html, useEffect, useState } from "../vendor.js";
import { ErrorNote, Loading, Pager, Progress, Status, useLoad, when } from "../ui.js";

const REFRESH_MS = 5000; // each refresh is an audited read

export function JobsPage() {
  const [offset, setOffset] = useState(0);
  const jobs = useLoad(() => call("GET", "/v1/jobs", { query: { limit: 20, offset } }), [offset]);
  const running = jobs.data?.jobs.some((job) => job.status === "queued" || job.status === "running");
  useEffect(() => {
    if (!running) return undefined;
    const timer = setTimeout(jobs.reload, REFRESH_MS);
    return () => clearTimeout(timer);
  }, [jobs.data]);
  return html`
    <${Loading} loading=${jobs.loading && !jobs.data} />
    <${ErrorNote} error=${jobs.error} />
    ${jobs.data && !jobs.data.jobs.length && html`<p class="muted">No uploads yet.</p>`}
    ${jobs.data?.jobs.map((job) => html`<${Job} job=${job} />`)}
    ${jobs.data && html`<${Pager} offset=${offset} next=${jobs.data.next_offset} onPage=${setOffset} />`}
  `;
}

function Job({ job }) {
  const { total, done, failed } = job.progress;
  return html`<article class="job" aria-label=${`job ${job.id}`}>
    <header>
      <${Status} value=${job.status} />
      <span>${when(job.created_at)}</span>
      <code>${job.id}</code>
    </header>
    <p><${Progress} value=${done + failed} max=${total} label=${`progress of job ${job.id}`} />
      ${done} indexed, ${failed} failed, of ${total}</p>
    <ul class="job-docs">${job.documents.map((doc) => html`<li>
      <${Status} value=${doc.status} /> ${doc.filename}
      ${doc.error && html`<div class="error-text">${doc.error}</div>`}
    </li>`)}</ul>
  </article>`;
}
