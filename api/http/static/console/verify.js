// Checks done in the browser, with WebCrypto: a cited span's SHA-256 and a search receipt's
// Ed25519 signature against the service's published keys (/.well-known/jwks.json).

const encoder = new TextEncoder();

/** SHA-256 of bytes (an ArrayBuffer or a typed array), in hex. */
export async function sha256OfBytes(data) {
  const digest = await crypto.subtle.digest("SHA-256", data);
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}

/** SHA-256 of a string's UTF-8 bytes, in hex. */
export function sha256Hex(text) {
  return sha256OfBytes(encoder.encode(text));
}

/** The cited span of a document's text, sliced at the citation's UTF-16 offsets. */
export function citedSpan(text, citation) {
  return {
    before: text.slice(0, citation.utf16_start),
    span: text.slice(citation.utf16_start, citation.utf16_end),
    after: text.slice(citation.utf16_end),
  };
}

function bytes(base64url) {
  const base64 = base64url.replace(/-/g, "+").replace(/_/g, "/");
  const padded = base64 + "=".repeat((4 - (base64.length % 4)) % 4);
  return Uint8Array.from(atob(padded), (c) => c.charCodeAt(0));
}

function json(base64url) {
  return JSON.parse(new TextDecoder().decode(bytes(base64url)));
}

async function signatureCheck(parts, jwks) {
  const header = json(parts[0]);
  if (header.alg !== "EdDSA") return { label: `signature algorithm is ${header.alg}, not EdDSA`, ok: false };
  const jwk = (jwks.keys ?? []).find((k) => k.kid === header.kid);
  if (!jwk) return { label: `signed by key ${header.kid}, which the service does not publish`, ok: false };
  const key = await crypto.subtle.importKey(
    "jwk", { kty: jwk.kty, crv: jwk.crv, x: jwk.x }, { name: "Ed25519" }, false, ["verify"],
  );
  const signed = encoder.encode(`${parts[0]}.${parts[1]}`);
  const ok = await crypto.subtle.verify({ name: "Ed25519" }, key, bytes(parts[2]), signed);
  return { label: `Ed25519 signature by the service's key ${header.kid}`, ok };
}

function hitChecks(payload, search) {
  const checks = [{ label: "it names this search", ok: payload.search_id === search.search_id }];
  const hits = payload.hits ?? [];
  checks.push({ label: `it lists the ${search.results.length} hits shown`, ok: hits.length === search.results.length });
  search.results.forEach((result, i) => {
    const hit = hits[i] ?? {};
    const c = result.citation;
    const same = hit.chunk_id === result.chunk_id && hit.rank === result.rank &&
      hit.document_id === c.document_id && hit.version === c.version &&
      hit.char_start === c.char_start && hit.char_end === c.char_end &&
      hit.chunk_sha256 === c.chunk_sha256 && hit.document_sha256 === c.document_sha256;
    checks.push({ label: `hit ${result.rank}: chunk, document, version, span and hashes match`, ok: same });
  });
  return checks;
}

async function textChecks(search) {
  const checks = [];
  for (const result of search.results) {
    const ok = (await sha256Hex(result.text)) === result.citation.chunk_sha256;
    checks.push({ label: `hit ${result.rank}: the text's SHA-256 is its chunk_sha256`, ok });
  }
  return checks;
}

/**
 * Verify a search's receipt: the signature against the JWKS, then that the signed payload
 * says what the response showed. Resolves to {ok, checks: [{label, ok}], payload}.
 */
export async function verifyReceipt(search, jwks, query) {
  const parts = (search.receipt ?? "").split(".");
  if (parts.length !== 3) return { ok: false, checks: [{ label: "the receipt is not a compact JWS", ok: false }] };
  if (!globalThis.crypto?.subtle) {
    return { ok: false, checks: [{ label: "this page is not a secure context (https or localhost): WebCrypto is off", ok: false }] };
  }
  const checks = [await signatureCheck(parts, jwks)];
  const payload = json(parts[1]);
  checks.push({ label: "it is a version-1 search receipt", ok: payload.typ === "enclave.search-receipt" && payload.v === 1 });
  if (query !== undefined) checks.push({ label: "it signs this query's SHA-256", ok: payload.query_sha256 === (await sha256Hex(query)) });
  checks.push(...hitChecks(payload, search), ...(await textChecks(search)));
  return { ok: checks.every((c) => c.ok), checks, payload };
}
