"""Plain text cut into paragraphs a parser can take: none longer than `LONG_PARAGRAPH`."""

import re

# Longest paragraph handed to partition_text in one piece (`split_long_paragraphs`).
LONG_PARAGRAPH = 20_000


def split_long_paragraphs(data: bytes, *, limit: int = LONG_PARAGRAPH) -> bytes:
    """A text whose paragraphs are at most `limit` characters: a longer one is cut at its
    last sentence end (else its last space, else hard) before the limit. Sentence splitting
    of one huge paragraph took gigabytes; the cut pieces parse like ordinary paragraphs."""
    text = data.decode("utf-8", errors="replace")
    if len(text) <= limit:
        return data
    paragraphs = re.split(r"(\n\s*\n)", text)
    return "".join(_cut(p, limit) if len(p) > limit else p for p in paragraphs).encode()


def _cut(paragraph: str, limit: int) -> str:
    pieces = []
    while len(paragraph) > limit:
        window = paragraph[:limit]
        end = max(window.rfind(". "), window.rfind("! "), window.rfind("? "))
        at = end + 1 if end > limit // 2 else window.rfind(" ")
        at = at if at > limit // 2 else limit
        pieces.append(paragraph[:at].rstrip())
        paragraph = paragraph[at:].lstrip()
    pieces.append(paragraph)
    return "\n\n".join(pieces)
