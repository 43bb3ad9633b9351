// Small shared pieces of the pages. Every text from the service or from a document is
// rendered as text (Preact sets textContent), never as HTML.
import { html, useCallback, useEffect, useRef, useState } from "./vendor.js";

/** Load something when the page opens (and when `deps` change): {data, error, reload}. */
export function useLoad(load, deps) {
  const [state, setState] = useState({ data: null, error: null, loading: true });
  const latest = useRef(0); // an answer to an older request never overwrites a newer one
  const reload = useCallback(() => {
    const ticket = ++latest.current;
    setState((s) => ({ ...s, loading: true }));
    const settle = (next) => ticket === latest.current && setState(next);
    return load().then(
      (data) => settle({ data, error: null, loading: false }),
      (error) => settle({ data: null, error, loading: false }),
    );
  }, deps);
  useEffect(() => {
    reload();
  }, [reload]);
  return { ...state, reload };
}

/** Run an action from a button or form: {run, busy, error, result}. */
export function useAction(action) {
  const [state, setState] = useState({ busy: false, error: null, result: null });
  const run = async (...args) => {
    setState({ busy: true, error: null, result: null });
    try {
      const result = await action(...args);
      setState({ busy: false, error: null, result });
      return result;
    } catch (error) {
      setState({ busy: false, error, result: null });
      return undefined;
    }
  };
  return { ...state, run };
}

export function ErrorNote({ error }) {
  if (!error) return null;
  const code = error.code ? html`<code>${error.code}</code> ` : null;
  return html`<p class="error" role="alert">${code}${error.message ?? String(error)}</p>`;
}

export function Loading({ loading }) {
  return loading ? html`<p class="muted" role="status">Loading…</p>` : null;
}

export function when(value) {
  if (!value) return "—";
  const date = new Date(value);
  return date.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "medium" });
}

export function size(bytes) {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
}

export function Status({ value }) {
  return html`<span class=${`status status-${value}`}>${value}</span>`;
}

/** Who may read a document or source: everyone in the tenant, admins only, or the lists. */
export function accessText(access) {
  if (!access) return "everyone in the tenant";
  const names = [
    ...access.users.map((u) => `user ${u}`),
    ...access.groups.map((g) => `group ${g}`),
  ];
  return names.length ? names.join(", ") : "admins only";
}

/** What an erasure removed, as the service's receipt says. */
export function ErasureReceipt({ receipt, title = "Erasure receipt" }) {
  if (!receipt) return null;
  const rows = Object.entries(receipt).filter(([name]) => name !== "erased");
  return html`<section class="receipt" aria-label=${title}>
    <h3>${title}</h3>
    <dl class="counts">
      ${rows.map(([name, value]) => html`<div><dt>${name.replace(/_/g, " ")}</dt><dd>${value}</dd></div>`)}
    </dl>
  </section>`;
}

/** The outcome of a delete: its receipt, or why it failed. `erased`: {name, receipt | error}. */
export function Erasure({ erased, what = "" }) {
  if (!erased) return null;
  return html`<div class="notice" role="status">
    <p>${erased.receipt ? "Erased" : "Could not erase"} ${what}<strong>${erased.name}</strong>.</p>
    <${ErrorNote} error=${erased.error} />
    <${ErasureReceipt} receipt=${erased.receipt} />
  </div>`;
}

export function Pager({ offset, next, onPage }) {
  return html`<div class="pager">
    <button type="button" disabled=${offset === 0} onClick=${() => onPage(0)}>First page</button>
    <button type="button" disabled=${next === null || next === undefined} onClick=${() => onPage(next)}>Next page</button>
  </div>`;
}

/** Split "a, b ,c" into ["a", "b", "c"]. */
export function list(text) {
  return text.split(",").map((s) => s.trim()).filter(Boolean);
}

/** Move the keyboard focus to a panel's heading when the panel opens. */
export function useFocus(deps) {
  const heading = useRef(null);
  useEffect(() => heading.current?.focus(), deps);
  return heading;
}

export function Progress({ value, max, label }) {
  return html`<progress value=${value} max=${max} aria-label=${label}>${Math.round((100 * value) / (max || 1))}%</progress>`;
}
