"""Title-aware chunking with exact character offsets into the canonical text.

We chunk ourselves rather than with `unstructured.chunking.chunk_by_title`: that
function rewrites whitespace and returns no offsets, and a citation must slice
the canonical text back to the chunk byte for byte.
"""

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass

from ingest.parse import Element

SEPARATOR = "\n\n"
TITLE = "Title"
_BREAKS = (re.compile(r"[.!?]\s+"), re.compile(r"\s+"))


@dataclass(frozen=True)
class Piece:
    """A span of the canonical text that is never split further."""

    start: int
    end: int
    page: int | None
    section: str | None
    is_title: bool


@dataclass(frozen=True)
class TextChunk:
    """A chunk: `text == canonical[char_start:char_end]`."""

    ordinal: int
    text: str
    char_start: int
    char_end: int
    page_start: int | None
    page_end: int | None
    section: str | None
    sha256: str


@dataclass(frozen=True)
class Chunked:
    """The canonical text of a document and its chunks."""

    text: str
    chunks: list[TextChunk]
    page_count: int | None


def chunk_elements(
    elements: Sequence[Element], *, max_chars: int = 1200, soft_chars: int = 900
) -> Chunked:
    """Join elements into the canonical text and pack them into bounded, title-led chunks."""
    text = SEPARATOR.join(e.text for e in elements)
    pieces = _pieces(text, elements, max_chars)
    groups = _pack(pieces, max_chars=max_chars, soft_chars=soft_chars)
    chunks = [_chunk(text, i, g) for i, g in enumerate(groups)]
    pages = [e.page for e in elements if e.page is not None]
    return Chunked(text=text, chunks=chunks, page_count=max(pages) if pages else None)


def _pieces(text: str, elements: Sequence[Element], max_chars: int) -> list[Piece]:
    pieces: list[Piece] = []
    sections = _sections(elements)
    offset = 0
    for element, section in zip(elements, sections, strict=True):
        end = offset + len(element.text)
        for start, stop in _split(text, offset, end, max_chars):
            pieces.append(Piece(start, stop, element.page, section, element.category == TITLE))
        offset = end + len(SEPARATOR)
    return pieces


def _sections(elements: Sequence[Element]) -> list[str | None]:
    """Section of each element: the nearest Title up its parent chain, else the last Title."""
    by_id = {e.element_id: e for e in elements}
    current: str | None = None
    out: list[str | None] = []
    for element in elements:
        if element.category == TITLE:
            current = element.text
        out.append(_title_ancestor(element, by_id) or current)
    return out


def _title_ancestor(element: Element, by_id: dict[str, Element]) -> str | None:
    node: Element | None = element
    for _ in range(64):  # bounded: a malformed parent chain must not loop
        if node is None:
            return None
        if node.category == TITLE:
            return node.text
        node = by_id.get(node.parent_id) if node.parent_id else None
    return None


def _split(text: str, start: int, end: int, max_chars: int) -> list[tuple[int, int]]:
    """Cut an over-long span at sentence ends, else whitespace, else hard."""
    spans: list[tuple[int, int]] = []
    while end - start > max_chars:
        cut = _cut_point(text, start, start + max_chars)
        spans.append((start, _rstrip(text, start, cut)))
        start = _lstrip(text, cut, end)
    if start < end:
        spans.append((start, end))
    return spans


def _cut_point(text: str, start: int, limit: int) -> int:
    window = text[start:limit]
    for pattern in _BREAKS:
        ends = [m.end() for m in pattern.finditer(window) if m.end() > len(window) // 3]
        if ends:
            return start + ends[-1]
    return limit


def _rstrip(text: str, start: int, end: int) -> int:
    while end > start + 1 and text[end - 1].isspace():
        end -= 1
    return end


def _lstrip(text: str, start: int, end: int) -> int:
    while start < end and text[start].isspace():
        start += 1
    return start


def _pack(pieces: list[Piece], *, max_chars: int, soft_chars: int) -> list[list[Piece]]:
    groups: list[list[Piece]] = []
    current: list[Piece] = []
    for piece in pieces:
        if current and _starts_new(current, piece, max_chars, soft_chars):
            groups.append(current)
            current = []
        current.append(piece)
    if current:
        groups.append(current)
    return groups


def _starts_new(current: list[Piece], piece: Piece, max_chars: int, soft_chars: int) -> bool:
    size = piece.end - current[0].start
    if size > max_chars:
        return True
    only_titles = all(p.is_title for p in current)
    if piece.is_title and not only_titles:
        return True  # a heading opens a new chunk unless the chunk is just headings so far
    return (
        not piece.is_title and not only_titles and current[-1].end - current[0].start >= soft_chars
    )


def _chunk(text: str, ordinal: int, group: list[Piece]) -> TextChunk:
    start, end = group[0].start, group[-1].end
    body = text[start:end]
    pages = [p.page for p in group if p.page is not None]
    sections = [p.section for p in group if not p.is_title and p.section] or [
        p.section for p in group if p.section
    ]
    return TextChunk(
        ordinal=ordinal,
        text=body,
        char_start=start,
        char_end=end,
        page_start=min(pages) if pages else None,
        page_end=max(pages) if pages else None,
        section=sections[0] if sections else None,
        sha256=hashlib.sha256(body.encode()).hexdigest(),
    )
