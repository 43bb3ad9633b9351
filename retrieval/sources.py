"""Sources: a tenant's named document sets, and what each holds now, path by path."""

import re
import uuid
from collections import Counter

from sqlalchemy.exc import IntegrityError

from retrieval.models import Document, DocumentStatus, Source
from tenancy.errors import Conflict, InvalidRequest, NotFound
from tenancy.scope import Scope

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


def check_name(name: str) -> str:
    """A source name: letters, digits, `.`, `_`, `-`, at most 128, not starting with a sign."""
    if not NAME.match(name):
        raise InvalidRequest(
            f"{name[:80]!r} is not a source name: use 1-128 letters, digits, '.', '_' or '-'"
        )
    return name


def find(scope: Scope, name: str) -> Source | None:
    """The tenant's source of that name, if it has one."""
    found: Source | None = scope.one_or_none(scope.select(Source).where(Source.name == name))
    return found


def get(scope: Scope, name: str) -> Source:
    """The tenant's source of that name, or NotFound (also for another tenant's)."""
    source = find(scope, name)
    if source is None:
        raise NotFound("source")
    return source


def get_or_create(scope: Scope, name: str) -> Source:
    """The tenant's source of that name, made on its first sync."""
    existing = find(scope, check_name(name))
    if existing is not None:
        return existing
    source = Source(name=name)
    try:
        with scope.savepoint():
            scope.add(source)
    except IntegrityError as exc:  # another sync made it a moment ago
        raise Conflict(f"the source {name!r} was created by another request; retry") from exc
    return source


def list_sources(scope: Scope) -> list[Source]:
    """The tenant's sources by name."""
    return scope.all(scope.select(Source).order_by(Source.name))


def current(scope: Scope, source_id: uuid.UUID) -> dict[str, Document]:
    """The newest version of every path the source holds (whatever its status)."""
    query = scope.select(Document).where(
        Document.source_id == source_id,
        Document.status.not_in((DocumentStatus.SUPERSEDED, DocumentStatus.ERASING)),
    )
    newest: dict[str, Document] = {}
    for doc in scope.all(query.order_by(Document.version)):
        if doc.path is not None:
            newest[doc.path] = doc
    return newest


def status_counts(scope: Scope, source_id: uuid.UUID) -> dict[str, int]:
    """How many of the source's paths are in each status (their newest version)."""
    return dict(Counter(doc.status.value for doc in current(scope, source_id).values()))


def versions(scope: Scope, source_id: uuid.UUID, path: str) -> list[Document]:
    """Every version of one path of the source, oldest first."""
    query = scope.select(Document).where(Document.source_id == source_id, Document.path == path)
    return scope.all(query.order_by(Document.version))


def all_documents(scope: Scope, source_id: uuid.UUID) -> list[Document]:
    """Every document of the source, all versions."""
    return scope.all(scope.select(Document).where(Document.source_id == source_id))


def rename(scope: Scope, source_id: uuid.UUID, old: str, new: str) -> int:
    """Move a path's versions to a new path (same bytes: nothing is embedded again)."""
    moved = versions(scope, source_id, old)
    for doc in moved:
        doc.path, doc.filename = new, new.rsplit("/", 1)[-1]
    scope.flush()
    return len(moved)


def delete(scope: Scope, source: Source) -> None:
    """Remove the source's row (its documents are erased first, by the caller)."""
    scope.remove(source)
    scope.flush()
