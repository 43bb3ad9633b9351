"""Changing who may read documents: the rows and every point's payload, before the answer.

A change takes effect on the next search: the SQL tokens and the index payload of every
chunk change in the same request. Should the index fail midway, the request fails and its
SQL rolls back; a search must pass both the index's tokens and the SQL's, so the stricter
of the two applies until the change is made again: an interrupted change never widens
access.
"""

import uuid

from retrieval import documents, sources
from retrieval.index import VectorIndex
from retrieval.models import Document, Source
from tenancy.access import Access
from tenancy.scope import Scope


def set_document_access(
    scope: Scope, index: VectorIndex, document_id: uuid.UUID, access: Access | None
) -> Document:
    """A document's (and its other versions') new access list, in SQL and in the index."""
    doc = documents.get(scope, document_id)
    _apply(scope, index, documents.set_access(scope, doc, access))
    return doc


def set_source_access(scope: Scope, index: VectorIndex, name: str, access: Access | None) -> Source:
    """A source's access list: its documents (every version) get it now, new ones later."""
    source = sources.get(scope, name)
    source.access = _json(access)
    docs = sources.all_documents(scope, source.id)
    _apply(scope, index, documents.set_tokens(scope, docs, access))
    return source


def source_access(source: Source) -> Access | None:
    """The access list a source gives its documents."""
    if source.access is None:
        return None
    return Access(tuple(source.access["users"]), tuple(source.access["groups"]))


def _json(access: Access | None) -> dict[str, list[str]] | None:
    return None if access is None else {"users": list(access.users), "groups": list(access.groups)}


def _apply(scope: Scope, index: VectorIndex, changed: list[Document]) -> None:
    for doc in changed:
        index.set_access(scope.tenant_id, doc.id, doc.access_tokens)
