"""Content sniffing: decide a document's media type from its bytes, not its name.

libmagic classifies the bytes into a family (PDF, zip container, RTF, e-mail, text).
A zip container is identified by its own manifest (`mimetype` or
`[Content_Types].xml`). The file name's extension may only refine the type inside
the text family (Markdown, CSV, TSV, JSON and plain text all sniff as text); any
other disagreement between name and content is rejected.
"""

from __future__ import annotations

import codecs
import email.parser
import functools
import io
import json
import re
import zipfile
from pathlib import PureWindowsPath

import magic

from ingest.errors import UnsupportedMediaType

PLAIN_TEXT = "text/plain"
MARKDOWN = "text/markdown"
HTML = "text/html"
CSV = "text/csv"
TSV = "text/tab-separated-values"
JSON = "application/json"
PDF = "application/pdf"
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
PPTX = "application/vnd.openxmlformats-officedocument.presentationml.presentation"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
EMAIL = "message/rfc822"
EPUB = "application/epub+zip"
ODT = "application/vnd.oasis.opendocument.text"
RTF = "application/rtf"

SUPPORTED_MEDIA_TYPES: frozenset[str] = frozenset(
    {PLAIN_TEXT, MARKDOWN, HTML, CSV, TSV, JSON, PDF, DOCX, PPTX, XLSX, EMAIL, EPUB, ODT, RTF}
)
ZIP_CONTAINER_TYPES: frozenset[str] = frozenset({DOCX, PPTX, XLSX, EPUB, ODT})
ARCHIVE_MEDIA_TYPE = "application/zip"
"""A plain zip archive (not an OOXML/ODF/EPUB container); the caller decides what to do."""

SNIFF_BYTES = 1024 * 1024
_MANIFEST_MAX_BYTES = 1024 * 1024
_ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")
_TEXTUAL_TYPES = frozenset(
    {"application/json", "application/csv", "application/x-ndjson", "application/xml", EMAIL}
)
_RTF_TYPES = frozenset({"text/rtf", "application/rtf"})
# Control characters that never occur in a text document (tab, newlines and form feed do).
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f-\x9f]")
_OOXML_MAIN_PARTS = {
    DOCX: b"application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml",
    PPTX: b"application/vnd.openxmlformats-officedocument.presentationml.presentation.main+xml",
    XLSX: b"application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml",
}
_TEXT_EXTENSIONS = {
    ".txt": PLAIN_TEXT,
    ".text": PLAIN_TEXT,
    ".log": PLAIN_TEXT,
    ".md": MARKDOWN,
    ".markdown": MARKDOWN,
    ".html": HTML,
    ".htm": HTML,
    ".xhtml": HTML,
    ".csv": CSV,
    ".tsv": TSV,
    ".tab": TSV,
    ".json": JSON,
}
_BINARY_EXTENSIONS = {
    PDF: frozenset({".pdf"}),
    DOCX: frozenset({".docx"}),
    PPTX: frozenset({".pptx"}),
    XLSX: frozenset({".xlsx"}),
    EPUB: frozenset({".epub"}),
    ODT: frozenset({".odt"}),
    RTF: frozenset({".rtf"}),
    ARCHIVE_MEDIA_TYPE: frozenset({".zip"}),
}
_KNOWN_REJECTS = {
    "application/CDFV2-encrypted": "a password-protected Office document",
    "application/encrypted": "an encrypted file",
}


def detect_media_type(data: bytes, *, filename: str) -> str:
    """Return the canonical media type of `data`, judged by content; raise UnsupportedMediaType."""
    if not data:
        raise UnsupportedMediaType(f"{filename}: empty file")
    sniffed, charset = _sniff(data)
    extension = PureWindowsPath(filename).suffix.lower()
    if _is_textual(sniffed, charset) or _misread_text(data, sniffed):
        return _text_type(data, sniffed, extension, filename)
    content_type = _binary_type(data, sniffed, filename)
    if extension and extension not in _BINARY_EXTENSIONS[content_type]:
        raise _mismatch(filename, content_type, extension)
    return content_type


@functools.cache
def _magic() -> magic.Magic:
    """One shared libmagic handle (python-magic serialises calls with its own lock)."""
    return magic.Magic(mime=True, mime_encoding=True)


def _sniff(data: bytes) -> tuple[str, str]:
    """libmagic's (mime type, charset) for the head of the data."""
    result: str = _magic().from_buffer(data[:SNIFF_BYTES])
    mime, _, params = result.partition(";")
    return mime.strip(), params.strip().removeprefix("charset=")


def _is_textual(sniffed: str, charset: str) -> bool:
    """True for text (e-mail included) that is not RTF, which has its own parser."""
    if charset == "binary" or sniffed in _RTF_TYPES:
        return False
    return sniffed.startswith("text/") or sniffed in _TEXTUAL_TYPES


def _misread_text(data: bytes, sniffed: str) -> bool:
    """True for clean UTF-8 text that libmagic took for a binary format we do not parse.

    Some of its signatures are two bytes long: a text that starts with "V" and then a
    character from U+0800 up (bytes 56 E0-EF) matches MPEG-4 LATM audio. Real binary data
    is neither valid UTF-8 nor free of control characters, so it is still refused.
    """
    if sniffed in {PDF, *_RTF_TYPES, *ZIP_CONTAINER_TYPES} or data.startswith(_ZIP_MAGIC):
        return False
    head = data[:SNIFF_BYTES]
    try:
        text = codecs.getincrementaldecoder("utf-8")().decode(head, final=len(data) == len(head))
    except UnicodeDecodeError:
        return False
    return _CONTROL.search(text) is None


def _text_type(data: bytes, sniffed: str, extension: str, filename: str) -> str:
    """Pick the text type from the extension; reject extensions that claim something else."""
    if extension == ".eml" and (sniffed == EMAIL or _looks_like_email(data)):
        return EMAIL
    if not extension:
        return sniffed if sniffed in SUPPORTED_MEDIA_TYPES else PLAIN_TEXT
    declared = _TEXT_EXTENSIONS.get(extension)
    if declared is None or (declared == JSON and not _is_json(data)):
        raise _mismatch(filename, sniffed, extension)
    return declared


def _binary_type(data: bytes, sniffed: str, filename: str) -> str:
    """Map a non-text libmagic verdict to a supported type, or reject it."""
    if sniffed == PDF:
        return PDF
    if sniffed in _RTF_TYPES:
        return RTF
    if sniffed in ZIP_CONTAINER_TYPES or data.startswith(_ZIP_MAGIC):
        return _container_type(data, filename)
    what = _KNOWN_REJECTS.get(sniffed, f"content of type {sniffed}")
    raise UnsupportedMediaType(f"{filename}: {what} is not a supported document type")


def _container_type(data: bytes, filename: str) -> str:
    """Identify a zip container by its manifest: EPUB/ODF `mimetype` or OOXML content types."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            names = set(archive.namelist())
            if "mimetype" in names:
                return _odf_type(_read_manifest(archive, "mimetype"), filename)
            if "[Content_Types].xml" in names:
                return _ooxml_type(_read_manifest(archive, "[Content_Types].xml"), filename)
    except (zipfile.BadZipFile, EOFError, NotImplementedError, RuntimeError) as exc:
        raise UnsupportedMediaType(f"{filename}: corrupt or unreadable zip container") from exc
    return ARCHIVE_MEDIA_TYPE


def _read_manifest(archive: zipfile.ZipFile, name: str) -> bytes:
    """Read a small manifest member, refusing oversized ones."""
    info = archive.getinfo(name)
    if info.file_size > _MANIFEST_MAX_BYTES:
        raise zipfile.BadZipFile(f"{name} is too large")
    return archive.read(info)


def _odf_type(declared: bytes, filename: str) -> str:
    """EPUB or ODF text by the `mimetype` member; other ODF kinds are rejected."""
    mime = declared.decode("ascii", "replace").strip()
    if mime in (EPUB, ODT):
        return mime
    raise UnsupportedMediaType(
        f"{filename}: content of type {mime} is not a supported document type"
    )


def _ooxml_type(content_types: bytes, filename: str) -> str:
    """DOCX, PPTX or XLSX by the main part's content type (macro-enabled variants rejected)."""
    for media_type, main_part in _OOXML_MAIN_PARTS.items():
        if main_part in content_types:
            return media_type
    raise UnsupportedMediaType(
        f"{filename}: unsupported Office Open XML package (macro-enabled, template or other kind)"
    )


def _is_json(data: bytes) -> bool:
    """True when the bytes parse as JSON."""
    try:
        json.loads(data)
    except (ValueError, RecursionError):
        return False
    return True


def _looks_like_email(data: bytes) -> bool:
    """True when the head parses as RFC 822 headers with a sender and a subject or date."""
    headers = email.parser.BytesHeaderParser().parsebytes(data[:SNIFF_BYTES])
    return bool(headers["From"]) and bool(headers["Subject"] or headers["Date"])


def _mismatch(filename: str, detected: str, extension: str) -> UnsupportedMediaType:
    """The error for content whose type does not match the name's extension."""
    return UnsupportedMediaType(
        f"{filename}: content is {detected}, which does not match the extension {extension!r}"
    )
