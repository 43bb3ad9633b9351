"""The `enclave` command."""

import os

# Before any import that might reach for the network (unstructured telemetry, HF hub).
os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("UNSTRUCTURED_DISABLE_NOTICE", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import typer

app = typer.Typer(
    help="Enclave: tenant-isolated retrieval with exact citations.", no_args_is_help=True
)

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

    from api.app import create_app
    from api.settings import Settings

    settings = Settings()
    url = f"http://{host}:{port}"
    typer.echo(GETTING_STARTED.format(url=url, data_dir=settings.data_dir.resolve()), err=True)
    uvicorn.run(create_app(settings), host=host, port=port, log_level="info")


@app.command()
def migrate() -> None:
    """Create or upgrade the metadata database."""
    from api import migrate as migrations
    from api.settings import Settings
    from tenancy.db import make_engine

    settings = Settings()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    engine = make_engine(settings.resolved_database_url())
    migrations.upgrade(engine)
    engine.dispose()
    typer.echo("database is at the newest revision")


def main() -> None:
    """Console-script entry point."""
    app()
