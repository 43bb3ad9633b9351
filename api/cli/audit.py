"""`enclave audit ...`: verify and export the audit log offline, straight from the database."""

import json
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime

import typer
from sqlalchemy.orm import Session

from api.settings import Settings
from tenancy import anchors, audit, signing, tenants
from tenancy.anchors import AnchorLog
from tenancy.db import make_engine, session_factory
from tenancy.ids import TenantId
from tenancy.models import AuditEvent
from tenancy.scope import Scope

app = typer.Typer(help="Verify or export the audit log (reads ENCLAVE_DATABASE_URL).")


@contextmanager
def _session() -> Iterator[Session]:
    engine = make_engine(Settings().resolved_database_url())
    try:
        with session_factory(engine)() as session:
            yield session
    finally:
        engine.dispose()


@app.command()
def verify(tenant: uuid.UUID | None = typer.Option(None, help="One tenant; default: all.")) -> None:
    """Recompute every chain (each tenant's and the system chain) and check it against the
    signed checkpoints outside the database; exit 1 on anything no longer proven."""
    settings = Settings()
    log = AnchorLog(settings.anchors_path)
    jwks = signing.published(settings.signing_path, settings.signing_key_file)
    with _session() as session:
        chains: list[uuid.UUID | None] = [tenant] if tenant else _all_chains(session)
        broken = 0
        for chain in chains:
            checkpoints = log.read(anchors.chain_name(chain))
            result = audit.verify_anchored(session, _tenant(chain), checkpoints, jwks)
            broken += _report(chain, result)
    raise typer.Exit(1 if broken else 0)


def _tenant(chain: uuid.UUID | None) -> TenantId | None:
    return TenantId(chain) if chain is not None else None


def _all_chains(session: Session) -> list[uuid.UUID | None]:
    return [*(t.id for t in tenants.list_all(session, limit=1_000_000)), None]


def _report(chain: uuid.UUID | None, result: audit.Verification) -> bool:
    name = str(chain) if chain else "system"
    if result.ok:
        proven = f", anchored to seq {result.anchored_seq}" if result.anchored_seq else ""
        typer.echo(f"{name}: ok ({result.events} events, {result.checkpoints} checkpoints{proven})")
        return False
    typer.echo(f"{name}: BROKEN at seq {result.first_broken_seq}: {result.reason}")
    return True


@app.command()
def export(
    tenant: uuid.UUID = typer.Option(..., help="The tenant whose events to export."),
    fmt: str = typer.Option("jsonl", "--format", help="Only `jsonl`."),
    since: datetime | None = typer.Option(None, help="Events at or after this time."),
) -> None:
    """Stream a tenant's events as JSON lines, in chain order."""
    if fmt != "jsonl":
        raise typer.BadParameter("only jsonl is supported", param_hint="--format")
    with _session() as session:
        after = 0
        query = audit.EventQuery(since=since, limit=1000)
        while page := audit.list_events(Scope(session, TenantId(tenant)), _from(query, after)):
            for event in page:
                typer.echo(json.dumps(event_json(event), sort_keys=True))
            after = page[-1].seq


def _from(query: audit.EventQuery, after: int) -> audit.EventQuery:
    return audit.EventQuery(
        query.action, query.key_id, query.since, query.until, after, query.limit
    )


def event_json(event: AuditEvent) -> dict[str, object]:
    """An event as exported: its hashed fields plus its id and hash, so a reader can re-verify."""
    return {**audit.event_body(event), "id": str(event.id), "hash": event.hash}
