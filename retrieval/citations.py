"""Citations: where a chunk came from, to the character."""

import re
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields
from typing import Any

from retrieval.models import Chunk, Document
from tenancy.scope import Scope


@dataclass(frozen=True)
class Citation:
    """`document text[char_start:char_end]` is the chunk text; its SHA-256 is `chunk_sha256`."""

    document_id: uuid.UUID
    filename: str
    version: int
    page_start: int | None
    page_end: int | None
    section: str | None
    char_start: int
    char_end: int
    chunk_sha256: str
    document_sha256: str
    utf16_start: int
    utf16_end: int

    def to_json(self) -> dict[str, Any]:
        """JSON-ready form (ids as strings). Flat fields: read one by one, not `asdict`'s
        deep copy (every hit of every search is converted)."""
        data = {name: getattr(self, name) for name in _FIELDS}
        data["document_id"] = str(self.document_id)
        return data


def cite(chunk: Chunk, document: Document) -> Citation:
    """The citation of `chunk` within `document`."""
    return Citation(
        document_id=document.id,
        filename=document.filename,
        version=document.version,
        page_start=chunk.page_start,
        page_end=chunk.page_end,
        section=chunk.section,
        char_start=chunk.char_start,
        char_end=chunk.char_end,
        chunk_sha256=chunk.sha256,
        document_sha256=document.sha256,
        utf16_start=chunk.utf16_start,
        utf16_end=chunk.utf16_end,
    )


# A citation's fields as columns, labelled with the field names, the chunk's and the
# document's apart (hit resolution reads the chunk's through a CTE): the search path reads
# them as plain rows (`cite_row`), which costs a fraction of loading two ORM entities per hit.
CHUNK_CITATION_COLUMNS = (
    Chunk.page_start,
    Chunk.page_end,
    Chunk.section,
    Chunk.char_start,
    Chunk.char_end,
    Chunk.sha256.label("chunk_sha256"),
    (Chunk.char_start + Chunk.utf16_shift_start).label("utf16_start"),
    (Chunk.char_end + Chunk.utf16_shift_end).label("utf16_end"),
)
DOCUMENT_CITATION_COLUMNS = (
    Document.id.label("document_id"),
    Document.filename,
    Document.version,
    Document.sha256.label("document_sha256"),
)
_FIELDS = tuple(f.name for f in fields(Citation))


def cite_row(row: Mapping[str, Any]) -> Citation:
    """The citation in a row with the citation columns (chunk's and document's)."""
    return Citation(**{name: row[name] for name in _FIELDS})


def utf16_offsets(text: str, offsets: Iterable[int]) -> dict[int, int]:
    """Each code-point offset of `text` as a UTF-16 offset (JavaScript's string indices): one
    more unit for every character beyond the Basic Multilingual Plane before it."""
    wanted = sorted(set(offsets))
    if _ASTRAL.search(text) is None:
        return {offset: offset for offset in wanted}
    found, extra, previous = {}, 0, 0
    for offset in wanted:
        extra += len(_ASTRAL.findall(text, previous, offset))
        found[offset], previous = offset + extra, offset
    return found


_ASTRAL = re.compile("[\U00010000-\U0010ffff]")


def get_chunk(scope: Scope, chunk_id: uuid.UUID) -> tuple[Chunk, Citation]:
    """A chunk of this tenant with its citation, or NotFound."""
    chunk = scope.get(Chunk, chunk_id, kind="chunk")
    document = scope.get(Document, chunk.document_id, kind="chunk")
    return chunk, cite(chunk, document)
