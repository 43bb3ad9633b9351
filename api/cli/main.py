"""The `enclave` command."""

import os
from pathlib import Path

# Before any import that might reach for the network (unstructured telemetry, HF hub).
os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("UNSTRUCTURED_DISABLE_NOTICE", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import typer

from api.cli import audit as audit_cli
from api.cli import backup as backup_cli
from api.cli import receipt as receipt_cli
from api.cli import remote

app = typer.Typer(
    help="Enclave: tenant-isolated retrieval with exact citations.", no_args_is_help=True
)
app.add_typer(remote.tenants_app, name="tenants")
app.add_typer(remote.keys_app, name="keys")
app.add_typer(remote.operator_app, name="operator-keys")
app.add_typer(remote.documents_app, name="documents")
app.command("search")(remote.search)
app.add_typer(audit_cli.app, name="audit")
app.add_typer(receipt_cli.receipt_app, name="receipt")
app.add_typer(receipt_cli.signing_app, name="signing-key")
app.command("backup")(backup_cli.backup)
app.command("restore")(backup_cli.restore)


def _version(given: bool) -> None:
    if given:
        from api.version import VERSION

        typer.echo(f"enclave {VERSION}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """Enclave: tenant-isolated retrieval with exact citations."""


GETTING_STARTED = """\
Enclave is serving on {url}  (data in {data_dir})
  API docs:   {url}/docs
  Next steps: create a tenant with the operator key, issue keys, upload documents,
              search. The README walks through it with curl.
"""


@app.command()
def serve(
    host: str = typer.Option("127.0.0.1", help="Interface to bind."),
    port: int = typer.Option(8000, help="Port to listen on."),
) -> None:
    """Run the HTTP API (migrates the database first)."""
    import uvicorn

    from api import logs
    from api.app import create_app
    from api.http.protocol import HeaderDeadlineProtocol
    from api.settings import Settings

    settings = Settings()
    logs.configure()
    url = f"http://{host}:{port}"
    typer.echo(GETTING_STARTED.format(url=url, data_dir=settings.data_dir.resolve()), err=True)
    uvicorn.run(
        create_app(settings, long_lived=True),
        host=host,
        port=port,
        log_config=None,
        log_level="info",
        http=HeaderDeadlineProtocol,
    )


@app.command()
def worker() -> None:
    """Run an ingestion worker: claims queued documents from the shared database (SIGTERM
    finishes the current batch). Start API processes with ENCLAVE_WORKERS=external."""
    from api import logs
    from api.cli import worker as worker_cli
    from api.settings import Settings

    logs.configure()
    try:
        worker_cli.run(Settings())
    except worker_cli.WorkerRefused as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc


@app.command()
def migrate() -> None:
    """Create or upgrade the metadata database."""
    from api.ops import migrate as migrations
    from api.settings import Settings
    from tenancy.db import make_engine

    settings = Settings()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    engine = make_engine(settings.resolved_database_url())
    migrations.upgrade(engine)
    engine.dispose()
    typer.echo("database is at the newest revision")


@app.command()
def ingest(
    paths: list[Path] = typer.Argument(..., help="Files or folders to upload.", exists=True),
    url: str = typer.Option("http://127.0.0.1:8000", help="The Enclave server."),
    key: str = typer.Option(..., envvar="ENCLAVE_KEY", help="An admin key of the tenant."),
    tags: list[str] = typer.Option([], "--tags", help="Tags for every document (repeatable)."),
) -> None:
    """Upload files or folders once, follow the jobs, and list what ended ready or failed.

    For a folder you keep editing, use `enclave sync` instead: it uploads only what changed,
    makes edited files new versions and erases the documents of deleted files."""
    from rich.console import Console

    from api.cli import ingest as ingest_cli
    from enclave_client.client import Client, EnclaveError

    console = Console()
    try:
        with Client(url, key) as client:
            failed = ingest_cli.run(client, paths, tags=tags, console=console)
    except EnclaveError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from exc
    raise typer.Exit(1 if failed else 0)


@app.command()
def sync(
    folder: Path = typer.Argument(
        ..., exists=True, file_okay=False, dir_okay=True, help="The folder to mirror."
    ),
    source: str = typer.Option(..., "--source", help="The source's name (made on first sync)."),
    url: str = typer.Option("http://127.0.0.1:8000", envvar="ENCLAVE_URL", help="The server."),
    key: str = typer.Option(..., envvar="ENCLAVE_KEY", help="An admin key of the tenant."),
    dry_run: bool = typer.Option(
        False, "--dry-run", help="Print what would change; change nothing."
    ),
    no_prune: bool = typer.Option(
        False, "--no-prune", help="Keep documents whose files left the folder."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the run's record as JSON."),
) -> None:
    """Mirror a folder into a source: new and edited files are indexed, files gone from the
    folder are erased (with receipts), unchanged ones cost nothing. Exit 0 when everything is
    indexed, 1 when a file failed (the rest still lands), 2 on a usage or connection error."""
    import httpx
    from rich.console import Console

    from api.cli import sync as sync_cli
    from enclave_client.client import Client, EnclaveError

    errors = Console(stderr=True)
    try:
        with Client(url, key) as client:
            out = sync_cli.run(
                client, folder, source=source, prune=not no_prune, dry_run=dry_run, console=errors
            )
    except EnclaveError as exc:
        errors.print(f"[red]error: {exc}[/red]")
        raise typer.Exit(2) from exc
    except httpx.HTTPError as exc:
        errors.print(f"[red]error: cannot reach {url}: {exc}[/red]")
        raise typer.Exit(2) from exc
    if as_json:
        typer.echo(out.model_dump_json(indent=2))
    else:
        sync_cli.report(out, Console())
    raise typer.Exit(0 if dry_run else sync_cli.exit_code(out))


@app.command()
def mcp(
    url: str = typer.Option(
        "http://127.0.0.1:8000", envvar="ENCLAVE_URL", help="The Enclave server."
    ),
    key: str = typer.Option(..., envvar="ENCLAVE_KEY", help="A reader (or admin) key."),
) -> None:
    """Serve the MCP tools over stdio, answering from a running Enclave server."""
    import anyio

    from api.mcp import stdio

    anyio.run(stdio.serve, url, key)


@app.command()
def probe(
    url: str = typer.Option("http://127.0.0.1:8000", help="The deployment to probe."),
    operator_key: str | None = typer.Option(None, envvar="ENCLAVE_OPERATOR_KEY"),
    tenant_a_key: str | None = typer.Option(None, help="Admin key of tenant A (no operator key)."),
    tenant_b_key: str | None = typer.Option(None, help="Admin key of tenant B (no operator key)."),
) -> None:
    """Plant canaries in two tenants, attack every route, exit 1 on any leak."""
    from rich.console import Console

    from api.probe.run import Credentials, run

    credentials = Credentials(operator_key, tenant_a_key, tenant_b_key)
    raise typer.Exit(run(url, credentials, Console(width=160)))


@app.command("eval")
def eval_(
    dataset: Path = typer.Argument(
        ..., help="BEIR folder: corpus.jsonl, queries.jsonl, qrels/test.tsv."
    ),
    data_dir: Path | None = typer.Option(None, help="Keep (and reuse) the eval's stores here."),
    split_dev: bool = typer.Option(False, help="Also report odd (dev) and even (test) ids apart."),
    rrf_k: int | None = typer.Option(None, min=1, help="Override ENCLAVE_RRF_K."),
    prefetch: int | None = typer.Option(None, min=1, help="Override ENCLAVE_HYBRID_PREFETCH."),
    limit_queries: int | None = typer.Option(None, min=1, help="First N judged queries."),
    limit_docs: int | None = typer.Option(None, min=1, help="N documents, judged ones first."),
    top_k: int = typer.Option(100, min=1, help="Results per query."),
    mode: list[str] = typer.Option([], help="Modes to run (repeatable); default all."),
    json_path: Path | None = typer.Option(None, "--json", help="Also write the report here."),
) -> None:
    """Score dense, sparse and hybrid search (and rerank when configured) on a BEIR dataset."""
    # Imported here: parser child processes re-import this module and must stay light.
    from api.eval.run import eval_command

    eval_command(
        dataset,
        data_dir=data_dir,
        split_dev=split_dev,
        rrf_k=rrf_k,
        prefetch=prefetch,
        limit_queries=limit_queries,
        limit_docs=limit_docs,
        top_k=top_k,
        mode=mode,
        json_path=json_path,
    )


@app.command()
def config(
    markdown: bool = typer.Option(True, "--markdown/--env", help="Markdown table or .env lines."),
) -> None:
    """Print the configuration reference (every ENCLAVE_* variable)."""
    from api.cli import config as config_doc

    typer.echo(config_doc.markdown() if markdown else config_doc.env_lines(), nl=False)


def main() -> None:
    """Console-script entry point: a failure a user can fix is one line, not a traceback."""
    from pydantic import ValidationError
    from sqlalchemy.exc import OperationalError

    try:
        app(standalone_mode=True)
    except ValidationError as exc:  # a setting (ENCLAVE_*) that cannot be used
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        typer.echo(f"error: setting {where}: {first['msg']}", err=True)
        raise SystemExit(2) from None
    except OperationalError as exc:
        reason = str(exc.orig).splitlines()[0] if exc.orig else str(exc).splitlines()[0]
        typer.echo(
            f"error: the database is unavailable ({reason}). Run from the folder that holds "
            "./data, or set ENCLAVE_DATA_DIR or ENCLAVE_DATABASE_URL.",
            err=True,
        )
        raise SystemExit(2) from None
