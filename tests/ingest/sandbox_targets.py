"""Parse targets for the sandbox tests; kept light so that spawned children start fast."""

import time

from ingest.parse import Element


def hang(data: bytes, media_type: str, filename: str) -> list[Element]:
    """Sleeps on a marker, echoes the text otherwise (no unstructured import: fast)."""
    if data.startswith(b"HANG"):
        time.sleep(60)
    return [Element(data.decode(), "NarrativeText", None, filename, None)]


def balloon(data: bytes, media_type: str, filename: str) -> list[Element]:
    """Allocates 4 GB on a marker, parses otherwise."""
    if data.startswith(b"BALLOON"):
        hog = bytearray(4 * 1024 * 1024 * 1024)
        return [Element(str(len(hog)), "Text", None, "x", None)]
    return [Element(data.decode(), "NarrativeText", None, filename, None)]
