// Talking to the service. The admin key lives in this tab's sessionStorage only: it is sent
// in the Authorization header, never put in a URL, and never logged.

const KEY = "enclave.admin-key";

export const session = {
  key: () => sessionStorage.getItem(KEY),
  signIn: (key) => sessionStorage.setItem(KEY, key),
  signOut: () => sessionStorage.removeItem(KEY),
};

/** An answer that is not 2xx, with the service's error code and message. */
export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

// The console goes back to the sign-in page when the service refuses the session's key.
function refused(error, key) {
  if (error.status === 401 && key === session.key()) {
    window.dispatchEvent(new CustomEvent("enclave:refused", { detail: error.message }));
  }
  return error;
}

function withQuery(path, query) {
  if (!query) return path;
  const params = new URLSearchParams();
  for (const [name, value] of Object.entries(query)) {
    if (value !== undefined && value !== null && value !== "") params.append(name, value);
  }
  const text = params.toString();
  return text ? `${path}?${text}` : path;
}

async function failure(response) {
  try {
    const body = await response.json();
    return new ApiError(response.status, body.error.code, body.error.message);
  } catch {
    return new ApiError(response.status, `http_${response.status}`, "the service refused the request");
  }
}

/** One API call; resolves to the parsed JSON (or text), rejects with an ApiError. */
export async function call(method, path, { json, query, key, text = false } = {}) {
  const used = key ?? session.key();
  const init = { method, cache: "no-store", headers: { Authorization: `Bearer ${used}` } };
  if (json !== undefined) {
    init.body = JSON.stringify(json);
    init.headers["Content-Type"] = "application/json";
  }
  let response;
  try {
    response = await fetch(withQuery(path, query), init);
  } catch {
    throw new ApiError(0, "unreachable", "the service did not answer");
  }
  if (!response.ok) throw refused(await failure(response), used);
  return text ? response.text() : response.json();
}

/**
 * POST files as one multipart request. `files` are {file, name}; `onProgress(sent)` gets the
 * bytes of file content sent so far (the request's progress, scaled to the files' sizes).
 */
export function upload(path, files, { fields = {}, onProgress } = {}) {
  const key = session.key();
  const form = new FormData();
  for (const [name, value] of Object.entries(fields)) form.append(name, value);
  for (const { file, name } of files) form.append("files", file, name);
  const content = files.reduce((sum, { file }) => sum + file.size, 0);
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open("POST", path);
    xhr.setRequestHeader("Authorization", `Bearer ${key}`);
    xhr.upload.onprogress = (event) => {
      if (event.lengthComputable && onProgress) onProgress((event.loaded / event.total) * content);
    };
    xhr.onerror = () => reject(new ApiError(0, "unreachable", "the upload did not reach the service"));
    xhr.onload = () => {
      let body = null;
      try {
        body = JSON.parse(xhr.responseText);
      } catch {
        body = null;
      }
      if (xhr.status >= 200 && xhr.status < 300) return resolve(body);
      const error = body?.error ?? { code: `http_${xhr.status}`, message: "the upload was refused" };
      reject(refused(new ApiError(xhr.status, error.code, error.message), key));
    };
    xhr.send(form);
  });
}

/**
 * Follow a Server-Sent Events stream (fetch, so the key goes in a header, which EventSource
 * cannot do). Calls onEvent(name, data) for each event; resolves when the stream ends.
 */
export async function follow(path, onEvent, signal) {
  const key = session.key();
  const response = await fetch(path, { headers: { Authorization: `Bearer ${key}` }, signal });
  if (!response.ok) throw refused(await failure(response), key);
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value.replace(/\r\n?/g, "\n");
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const event = parseEvent(block);
      if (event?.name === "error") throw streamError(event.data, key);
      if (event) onEvent(event.name, event.data);
    }
  }
}

// The stream's `error` event: the key was revoked, or the job erased, while it ran.
function streamError(data, key) {
  const { code, message } = data?.error ?? { code: "stream_error", message: "the stream failed" };
  const status = code === "unauthenticated" ? 401 : code === "not_found" ? 404 : 503;
  return refused(new ApiError(status, code, message), key);
}

function parseEvent(block) {
  let name = "message";
  const data = [];
  for (const line of block.split("\n")) {
    const colon = line.indexOf(":");
    if (colon <= 0) continue; // a comment (keep-alive) or a blank line
    const field = line.slice(0, colon);
    const value = line.slice(colon + 1).replace(/^ /, "");
    if (field === "event") name = value;
    else if (field === "data") data.push(value);
  }
  return data.length ? { name, data: JSON.parse(data.join("\n")) } : null;
}
