// The console's shell: sign-in, navigation between the pages (#/name), and sign-out.
import { call, session } from "./api.js";
import { html, render, useEffect, useRef, useState } from "./vendor.js";
import { ErrorNote } from "./ui.js";
import { AccessPage } from "./pages/access.js";
import { AuditPage } from "./pages/audit.js";
import { DocumentsPage } from "./pages/documents.js";
import { JobsPage } from "./pages/jobs.js";
import { KeysPage } from "./pages/keys.js";
import { SearchPage } from "./pages/search.js";
import { SourcesPage } from "./pages/sources.js";

const PAGES = [
  ["documents", "Documents", DocumentsPage],
  ["sources", "Sources", SourcesPage],
  ["jobs", "Jobs", JobsPage],
  ["search", "Search", SearchPage],
  ["keys", "Keys", KeysPage],
  ["access", "Access", AccessPage],
  ["audit", "Audit", AuditPage],
];

function currentPage() {
  const name = location.hash.replace(/^#\/?/, "").split("/")[0];
  return PAGES.find(([id]) => id === name) ?? PAGES[0];
}

function SignIn({ reason, onSignedIn }) {
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);
  const submit = async (event) => {
    event.preventDefault();
    const key = new FormData(event.currentTarget).get("key").trim();
    setBusy(true);
    setError(null);
    try {
      await call("GET", "/v1/keys", { key }); // an admin-only read: proves the key is an admin's
      session.signIn(key);
      onSignedIn();
    } catch (err) {
      setError(err.status === 403 ? { code: "forbidden", message: "this key is not an admin key" } : err);
    } finally {
      setBusy(false);
    }
  };
  return html`<main class="signin">
    <h1>Enclave console</h1>
    <p>Sign in with a tenant admin key. It is kept in this tab only (session storage) and
      sent to this service alone.</p>
    ${reason && html`<p class="warning" role="alert">${reason}</p>`}
    <form onSubmit=${submit}>
      <label for="key">Admin key</label>
      <input id="key" name="key" type="password" autocomplete="off" spellcheck="false" required placeholder="ek_…" />
      <button type="submit" disabled=${busy}>${busy ? "Checking…" : "Sign in"}</button>
    </form>
    <${ErrorNote} error=${error} />
  </main>`;
}

function Shell({ onSignOut }) {
  const [page, setPage] = useState(currentPage);
  const heading = useRef(null);
  useEffect(() => {
    const moved = () => setPage(currentPage());
    window.addEventListener("hashchange", moved);
    return () => window.removeEventListener("hashchange", moved);
  }, []);
  useEffect(() => heading.current?.focus(), [page]);
  const [id, title, Page] = page;
  return html`<div class="shell">
    <header class="top">
      <span class="brand">Enclave</span>
      <nav aria-label="Console pages">
        <ul>
          ${PAGES.map(([pid, name]) => html`<li><a href=${`#/${pid}`} aria-current=${pid === id ? "page" : undefined}>${name}</a></li>`)}
        </ul>
      </nav>
      <button type="button" class="link" onClick=${onSignOut}>Sign out</button>
    </header>
    <main>
      <h1 tabindex="-1" ref=${heading}>${title}</h1>
      <${Page} />
    </main>
  </div>`;
}

function App() {
  const [signedIn, setSignedIn] = useState(() => Boolean(session.key()));
  const [reason, setReason] = useState(null);
  useEffect(() => {
    const refused = (event) => {
      session.signOut();
      setReason(`The service refused the key (${event.detail}). Sign in again.`);
      setSignedIn(false);
    };
    window.addEventListener("enclave:refused", refused);
    return () => window.removeEventListener("enclave:refused", refused);
  }, []);
  const signOut = () => {
    session.signOut();
    setReason(null);
    setSignedIn(false);
  };
  if (!signedIn) return html`<${SignIn} reason=${reason} onSignedIn=${() => setSignedIn(true)} />`;
  return html`<${Shell} onSignOut=${signOut} />`;
}

const root = document.getElementById("app");
root.textContent = "";
render(html`<${App} />`, root);
