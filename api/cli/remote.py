"""`enclave tenants|keys|operator-keys|documents|search`: the HTTP API from a shell.

Each verb is one API call through the thin client's retrying transport. `--url` and `--key`
also come from ENCLAVE_URL and ENCLAVE_KEY; `--json` prints the server's answer as is.
Exit 0 on success, 1 when the server refused (one line: status, code, message), 2 when it
could not be reached.
"""

import json
from collections.abc import Sequence
from typing import Any, NoReturn

import httpx
import typer
from rich.console import Console
from rich.table import Table

from enclave_client import calls
from enclave_client.calls import EnclaveError

URL = typer.Option("http://127.0.0.1:8000", "--url", envvar="ENCLAVE_URL", help="The server.")
KEY = typer.Option(..., "--key", envvar="ENCLAVE_KEY", help="The API key to call with.")
AS_JSON = typer.Option(False, "--json", help="Print the server's JSON answer.")

tenants_app = typer.Typer(
    help="Create, list and erase tenants (operator key).", no_args_is_help=True
)
keys_app = typer.Typer(help="Issue, list and revoke tenant keys.", no_args_is_help=True)
operator_app = typer.Typer(help="List, issue and revoke operator keys.", no_args_is_help=True)
documents_app = typer.Typer(help="List and erase documents (admin key).", no_args_is_help=True)


def call(url: str, key: str, method: str, path: str, **options: Any) -> Any:
    """One API call: its JSON answer, or a one-line error and exit 1 (refused) / 2 (unreachable)."""
    transport = calls.RetryingTransport(httpx.HTTPTransport(), 2)
    headers = calls.headers(key)
    try:
        with httpx.Client(base_url=url, headers=headers, transport=transport, timeout=120) as http:
            return calls.ok(http.request(method, path, **options))
    except EnclaveError as exc:
        _fail(f"{exc.status} {exc.code}: {exc.message}", 1)
    except httpx.HTTPError as exc:
        _fail(f"cannot reach {url}: {exc}", 2)
    except ValueError:  # a 2xx that is not JSON: not an Enclave server at that URL
        _fail(f"{url} did not answer as an Enclave server does (no JSON)", 2)


def _fail(message: str, code: int) -> NoReturn:
    line = " ".join(message.split())  # one line, however wide the terminal or odd the body
    typer.echo(f"error: {line}", err=True)
    raise typer.Exit(code)


def show(data: Any, as_json: bool, columns: Sequence[str]) -> None:
    """The answer as JSON, or as a table of `columns` (one row per item)."""
    if as_json:
        typer.echo(json.dumps(data, indent=2, ensure_ascii=False))
        return
    rows = data if isinstance(data, list) else [data]
    table = Table(*columns, box=None, header_style="bold")
    for row in rows:
        table.add_row(*(_cell(row.get(column)) for column in columns))
    Console().print(table)


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, list):
        return ",".join(str(v) for v in value)
    return str(value)


KEY_COLUMNS = ("id", "role", "name", "prefix", "user", "groups", "delegate", "revoked_at")


@tenants_app.command("create")
def tenants_create(name: str, url: str = URL, key: str = KEY, as_json: bool = AS_JSON) -> None:
    """Create a tenant."""
    show(call(url, key, "POST", "/v1/tenants", json={"name": name}), as_json, ("id", "name"))


@tenants_app.command("list")
def tenants_list(url: str = URL, key: str = KEY, as_json: bool = AS_JSON) -> None:
    """List tenants, oldest first."""
    show(call(url, key, "GET", "/v1/tenants"), as_json, ("id", "name", "created_at"))


@tenants_app.command("delete")
def tenants_delete(
    tenant_id: str,
    yes: bool = typer.Option(False, "--yes", help="Do not ask for confirmation."),
    url: str = URL,
    key: str = KEY,
    as_json: bool = AS_JSON,
) -> None:
    """Erase a tenant and everything of it; prints the erasure receipt."""
    if not yes:
        typer.confirm(f"Erase tenant {tenant_id} and all its data?", abort=True)
    receipt = call(url, key, "DELETE", f"/v1/tenants/{tenant_id}")
    show(receipt, as_json, ("documents", "chunks", "vectors", "blobs", "keys", "searches"))


@keys_app.command("create")
def keys_create(
    role: str = typer.Option(..., "--role", help="admin or reader."),
    name: str = typer.Option(..., "--name", help="What the key is for."),
    tenant: str | None = typer.Option(
        None, "--tenant", help="With an operator key: the tenant to issue it in."
    ),
    user: str | None = typer.Option(None, "--user", help="Bind a reader key to this user."),
    groups: list[str] = typer.Option([], "--group", help="The bound user's groups (repeat)."),
    delegate: bool = typer.Option(False, "--delegate", help="A delegate reader key."),
    url: str = URL,
    key: str = KEY,
    as_json: bool = AS_JSON,
) -> None:
    """Issue a key (shown once): in the caller's tenant, or with --tenant as the operator."""
    body = {"role": role, "name": name, "user": user, "groups": groups, "delegate": delegate}
    path = f"/v1/tenants/{tenant}/keys" if tenant else "/v1/keys"
    show(call(url, key, "POST", path, json=body), as_json, ("id", "role", "name", "key"))


@keys_app.command("list")
def keys_list(url: str = URL, key: str = KEY, as_json: bool = AS_JSON) -> None:
    """The tenant's keys (never their secrets)."""
    show(call(url, key, "GET", "/v1/keys"), as_json, KEY_COLUMNS)


@keys_app.command("revoke")
def keys_revoke(key_id: str, url: str = URL, key: str = KEY, as_json: bool = AS_JSON) -> None:
    """Revoke a key of the tenant; it fails on its next request."""
    show(call(url, key, "DELETE", f"/v1/keys/{key_id}"), as_json, KEY_COLUMNS)


@operator_app.command("list")
def operator_list(url: str = URL, key: str = KEY, as_json: bool = AS_JSON) -> None:
    """Every operator key, revoked ones included."""
    show(call(url, key, "GET", "/v1/operator/keys"), as_json, KEY_COLUMNS)


@operator_app.command("create")
def operator_create(name: str, url: str = URL, key: str = KEY, as_json: bool = AS_JSON) -> None:
    """Issue another operator key (shown once)."""
    body = {"name": name}
    show(call(url, key, "POST", "/v1/operator/keys", json=body), as_json, ("id", "name", "key"))


@operator_app.command("revoke")
def operator_revoke(key_id: str, url: str = URL, key: str = KEY, as_json: bool = AS_JSON) -> None:
    """Revoke an operator key (never the last usable one)."""
    show(call(url, key, "DELETE", f"/v1/operator/keys/{key_id}"), as_json, KEY_COLUMNS)


@documents_app.command("list")
def documents_list(
    status: str | None = typer.Option(None, help="Only documents in this status."),
    tag: str | None = typer.Option(None, help="Only documents with this tag."),
    limit: int = typer.Option(50, help="At most this many."),
    url: str = URL,
    key: str = KEY,
    as_json: bool = AS_JSON,
) -> None:
    """The tenant's documents, newest first."""
    params = {k: v for k, v in {"status": status, "tag": tag, "limit": limit}.items() if v}
    found = call(url, key, "GET", "/v1/documents", params=params)
    columns = ("id", "filename", "status", "version", "chunk_count", "created_at")
    show(found if as_json else found["documents"], as_json, columns)


@documents_app.command("delete")
def documents_delete(
    document_id: str, url: str = URL, key: str = KEY, as_json: bool = AS_JSON
) -> None:
    """Erase a document (every version's text, chunks, vectors, file); prints the receipt."""
    receipt = call(url, key, "DELETE", f"/v1/documents/{document_id}")
    show(receipt, as_json, ("documents", "chunks", "vectors", "blobs"))


def search(
    query: str = typer.Argument(..., help="What to find."),
    top_k: int = typer.Option(5, "--top-k", help="How many passages (1-50)."),
    mode: str = typer.Option("hybrid", help="hybrid, dense or sparse."),
    tags: list[str] = typer.Option([], "--tag", help="Only documents with this tag (repeat)."),
    url: str = URL,
    key: str = KEY,
    as_json: bool = AS_JSON,
) -> None:
    """Search the key's tenant; each hit with its citation."""
    body = {"query": query, "top_k": top_k, "mode": mode, "filter": {"tags": tags}}
    found = call(url, key, "POST", "/v1/search", json=body)
    if as_json:
        typer.echo(json.dumps(found, indent=2, ensure_ascii=False))
        return
    console = Console(highlight=False)
    for hit in found["results"]:
        cited = hit["citation"]
        pages = f" p.{cited['page_start']}" if cited["page_start"] is not None else ""
        where = f"{cited['filename']}{pages} [{cited['char_start']}:{cited['char_end']}]"
        console.print(f"[bold]{hit['rank']}.[/bold] {hit['score']:.3f}  {where}")
        console.print(f"   {' '.join(hit['text'].split())[:300]}", markup=False)
    console.print(f"search {found['search_id']}", style="dim")
