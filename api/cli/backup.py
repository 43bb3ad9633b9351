"""`enclave backup PATH` (asks the running server) and `enclave restore PATH` (offline)."""

from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

import typer

if TYPE_CHECKING:
    import httpx

RECEIPT = """\
backup written to {path} in {seconds:.2f} s
  {tenants} tenants, {documents} documents, {chunks} chunks, {shards} index shards,
  {blobs} original files, {megabytes:.1f} MB; database revision {revision}
restore it with the server stopped: enclave restore {path}
"""


def backup(
    path: Path = typer.Argument(
        ...,
        help="A new folder on the server's machine, inside ENCLAVE_BACKUP_DIR "
        "(a relative path is taken from the current folder).",
    ),
    url: str = typer.Option("http://127.0.0.1:8000", help="The running Enclave server."),
    key: str = typer.Option(..., envvar="ENCLAVE_OPERATOR_KEY", help="The operator key."),
) -> None:
    """Have the running server snapshot its database, index and original files into PATH."""
    import httpx

    from api.schemas import BackupOut

    endpoint = f"{url.rstrip('/')}/v1/admin/backups"
    body = {"path": str(path.absolute())}
    headers = {"Authorization": f"Bearer {key}"}
    try:
        # No read timeout: a large backup takes as long as copying the data dir does.
        timeout = httpx.Timeout(10.0, read=None)
        response = httpx.post(endpoint, json=body, headers=headers, timeout=timeout)
    except httpx.HTTPError as exc:
        _fail(f"cannot reach {url}: {exc}")
    if response.status_code != 201:
        _fail(_message(response))
    out = BackupOut.model_validate(response.json())
    counts = out.counts.model_dump()
    megabytes = counts.pop("bytes") / 1e6
    typer.echo(
        RECEIPT.format(
            path=out.path, seconds=out.seconds, revision=out.revision, megabytes=megabytes, **counts
        ),
        nl=False,
    )


def restore(
    path: Path = typer.Argument(..., help="A folder written by `enclave backup`."),
    force: bool = typer.Option(
        False, "--force", help="Replace the data dir's database, shards and original files."
    ),
) -> None:
    """Restore a backup into ENCLAVE_DATA_DIR; stop the server first."""
    from api.ops import manifest as backup_manifest
    from api.ops import restore
    from api.settings import Settings

    settings = Settings()
    try:
        done = restore.restore(settings, path, force=force)
    except backup_manifest.BackupError as exc:
        _fail(str(exc))
    counts = done.counts
    typer.echo(
        f"restored the backup of {done.created_at} into {settings.data_dir.resolve()}"
        f"{' (replacing what was there)' if done.replaced else ''}: {counts.tenants} tenants, "
        f"{counts.documents} documents, {counts.chunks} chunks"
    )
    for warning in done.warnings:
        typer.echo(f"warning: {warning}", err=True)
    if done.needs_migration:
        typer.echo(
            f"the backup's database is at revision {done.revision}, this version's newest is "
            f"{done.head}: run `enclave migrate` (`enclave serve` also migrates when it starts)"
        )


def _message(response: "httpx.Response") -> str:
    try:
        error = response.json()["error"]
        return f"{response.status_code} {error['code']}: {error['message']}"
    except (ValueError, KeyError, TypeError):
        return f"{response.status_code}: {response.text[:200]}"


def _fail(message: str) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(1)
