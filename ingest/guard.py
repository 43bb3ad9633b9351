"""Cheap pre-flight checks that run before a document reaches a parser.

They reject zip bombs, XML entity bombs and PDFs that the fast PDF parser would
silently turn into nothing (corrupt, encrypted, scanned). A scanned PDF (no page
has a text layer) is let through for OCR when the OCR tools are installed (Debian
`tesseract-ocr` and `poppler-utils`), and rejected with "needs OCR" otherwise.
Every rejection is a `ParseError` whose message can be shown to an admin as is.
"""

from __future__ import annotations

import importlib.util
import io
import re
import shutil
import threading
import zipfile
import zlib
from typing import IO

import pypdfium2 as pdfium

from ingest.errors import ParseError

MAX_UNPACKED_BYTES = 100 * 1024 * 1024
"""Largest total uncompressed size of a zip container (OOXML, ODF, EPUB)."""
MAX_COMPRESSION_RATIO = 100
"""Largest uncompressed/compressed ratio, checked once the content exceeds RATIO_FLOOR_BYTES."""
RATIO_FLOOR_BYTES = 1024 * 1024
MAX_MEMBERS = 10_000
"""Most members a zip container may have."""

_CHUNK = 1024 * 1024
_ENTITY = re.compile(rb"<!ENTITY", re.IGNORECASE)
_ENTITY_TAIL = 4 * len(b"<!ENTITY")  # enough to carry a split declaration, even in UTF-32
_PDFIUM_LOCK = threading.Lock()  # pdfium is not thread-safe
_PDFIUM_PASSWORD_ERRORS = frozenset({4, 6})  # FPDF_ERR_PASSWORD, FPDF_ERR_SECURITY
_ZIP_ERRORS = (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, RuntimeError)

NEEDS_OCR = "scanned PDF without a text layer: needs OCR"
OCR_BINARIES = ("tesseract", "pdftoppm", "pdfinfo")
"""Executables OCR runs: Debian's tesseract-ocr, and poppler-utils to render the pages."""
OCR_MODULE = "unstructured_pytesseract"
"""Without it unstructured turns `ocr_only` into `hi_res`, which downloads a layout model."""


def ocr_available() -> bool:
    """True when scanned PDFs can be OCR'd offline: the binaries are on PATH, the wrapper installed.

    Looked up on every call (a few `stat`s), so that it reflects the process it runs in.
    """
    return importlib.util.find_spec(OCR_MODULE) is not None and all(
        shutil.which(name) is not None for name in OCR_BINARIES
    )


def check_markup(data: bytes) -> None:
    """Reject HTML/XML that declares entities (billion laughs and friends), in UTF-8, Latin
    text or UTF-16/32 (which a byte search alone would miss)."""
    if _ENTITY.search(data) or any("<!entity" in text for text in _decodings(data)):
        raise ParseError("document declares XML entities (billion laughs attack?)")


def _decodings(data: bytes) -> list[str]:
    """The wide encodings a markup file may use, lower-cased (each byte offset of UTF-16)."""
    if b"\x00" not in data:
        return []
    codecs = ("utf-16-le", "utf-16-be", "utf-32-le", "utf-32-be")
    return [data[shift:].decode(c, errors="ignore").lower() for c in codecs for shift in (0, 1)]


def check_archive(data: bytes) -> None:
    """Reject zip containers that are corrupt, expand too much or declare XML entities."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            infos = archive.infolist()
            _check_declared_sizes(infos, len(data))
            budget = _Budget(len(data))
            for info in infos:
                with archive.open(info) as member:
                    _scan_member(member, budget)
    except _ZIP_ERRORS as exc:
        raise ParseError(f"corrupt or unreadable archive ({exc})") from exc


def _check_declared_sizes(infos: list[zipfile.ZipInfo], packed: int) -> None:
    """Judge the sizes the archive claims, before inflating anything."""
    if len(infos) > MAX_MEMBERS:
        raise ParseError(f"archive has too many members ({len(infos)} > {MAX_MEMBERS})")
    _Budget(packed).add(sum(info.file_size for info in infos))


class _Budget:
    """Running total of inflated bytes, checked against the size and ratio limits."""

    def __init__(self, packed: int) -> None:
        self.packed = max(packed, 1)
        self.total = 0

    def add(self, count: int) -> None:
        """Count inflated bytes; raise once a limit is crossed."""
        self.total += count
        too_big = self.total > MAX_UNPACKED_BYTES
        ratio = self.total / self.packed
        if too_big or (self.total > RATIO_FLOOR_BYTES and ratio > MAX_COMPRESSION_RATIO):
            raise ParseError("archive expands too much (zip bomb?)")


def _scan_member(member: IO[bytes], budget: _Budget) -> None:
    """Inflate one member in chunks (verifying its CRC), counting bytes, looking for entities."""
    tail = b""
    while chunk := member.read(_CHUNK):
        budget.add(len(chunk))
        check_markup(tail + chunk)
        tail = chunk[-_ENTITY_TAIL:]


def check_pdf(data: bytes) -> bool:
    """Open the PDF with pdfium: reject corrupt and password-protected files; True if it needs OCR.

    A PDF needs OCR when no page has a text layer; if OCR is not available it is rejected.
    """
    with _PDFIUM_LOCK:
        try:
            pdf = pdfium.PdfDocument(data)
        except pdfium.PdfiumError as exc:
            if getattr(exc, "err_code", None) in _PDFIUM_PASSWORD_ERRORS:
                raise ParseError("encrypted PDF (password-protected)") from None
            raise ParseError("corrupt or unreadable PDF") from None
        try:
            scanned = _is_scanned(pdf)
        finally:
            pdf.close()
    if scanned and not ocr_available():
        raise ParseError(NEEDS_OCR)
    return scanned


def _is_scanned(pdf: pdfium.PdfDocument) -> bool:
    """Require pages; True when none of them has a text layer."""
    if len(pdf) == 0:
        raise ParseError("corrupt PDF (no pages)")
    return not any(_page_has_text(pdf, index) for index in range(len(pdf)))


def _page_has_text(pdf: pdfium.PdfDocument, index: int) -> bool:
    """True when the page carries any non-blank text."""
    page = pdf[index]
    try:
        textpage = page.get_textpage()
        try:
            return bool(textpage.get_text_bounded().strip())
        finally:
            textpage.close()
    finally:
        page.close()
