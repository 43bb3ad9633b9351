"""Content sniffing: every fixture is recognised by its bytes; lies and junk are rejected."""

import io
import re
import zipfile
from pathlib import Path

import pytest

from ingest import detect
from ingest.detect import ARCHIVE_MEDIA_TYPE, SUPPORTED_MEDIA_TYPES, detect_media_type
from ingest.errors import UnsupportedMediaType

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
TENANTS = ("acme", "globex")
EXPECTED_TYPES = {
    "handbook.md": detect.MARKDOWN,
    "policy.txt": detect.PLAIN_TEXT,
    "faq.html": detect.HTML,
    "report.pdf": detect.PDF,
    "onboarding.docx": detect.DOCX,
    "roadmap.pptx": detect.PPTX,
    "budget.xlsx": detect.XLSX,
    "inventory.csv": detect.CSV,
    "suppliers.tsv": detect.TSV,
    "announcement.eml": detect.EMAIL,
    "field_guide.epub": detect.EPUB,
    "minutes.odt": detect.ODT,
    "letter.rtf": detect.RTF,
    "settings.json": detect.JSON,
}
CASES = [(tenant, name) for tenant in TENANTS for name in EXPECTED_TYPES]


def fixture_bytes(folder: str, name: str) -> bytes:
    return (FIXTURES / folder / name).read_bytes()


def zip_of(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buf.getvalue()


@pytest.mark.parametrize(("tenant", "name"), CASES)
def test_every_fixture_is_detected_by_content(tenant: str, name: str) -> None:
    assert detect_media_type(fixture_bytes(tenant, name), filename=name) == EXPECTED_TYPES[name]


def test_fixtures_cover_every_supported_type() -> None:
    assert set(EXPECTED_TYPES.values()) == SUPPORTED_MEDIA_TYPES
    for tenant in TENANTS:
        assert {p.name for p in (FIXTURES / tenant).iterdir()} == set(EXPECTED_TYPES)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("encrypted.pdf", detect.PDF),
        ("corrupt.pdf", detect.PDF),
        ("scanned.pdf", detect.PDF),
        ("zipbomb.docx", detect.DOCX),
        ("billion_laughs.html", detect.HTML),
    ],
)
def test_broken_files_of_an_allowed_type_pass_detection(name: str, expected: str) -> None:
    # Detection judges the type only; the parser's guards reject these (see test_parse).
    assert detect_media_type(fixture_bytes("bad", name), filename=name) == expected


def test_empty_file_is_rejected() -> None:
    with pytest.raises(UnsupportedMediaType, match="empty file"):
        detect_media_type(b"", filename="empty.txt")


def test_binary_garbage_named_txt_is_rejected() -> None:
    with pytest.raises(UnsupportedMediaType, match=r"binary\.txt.*application/octet-stream"):
        detect_media_type(fixture_bytes("bad", "binary.txt"), filename="binary.txt")


@pytest.mark.parametrize("filename", ["notes.txt", "notes"])
def test_text_that_matches_a_short_binary_signature_is_still_text(filename: str) -> None:
    # "V" then a character from U+0800 up starts like MPEG-4 LATM audio to libmagic.
    data = "Vठीक है: the pump valve was inspected on Monday.\n".encode()
    assert detect._sniff(data)[0] == "audio/x-mp4a-latm"
    assert detect.detect_media_type(data, filename=filename) == detect.PLAIN_TEXT


def test_binary_data_behind_a_short_text_like_signature_is_rejected() -> None:
    data = b"V\xe0" + bytes(range(256)) * 4
    with pytest.raises(UnsupportedMediaType, match="audio/x-mp4a-latm"):
        detect.detect_media_type(data, filename="notes.txt")


def test_text_named_pdf_is_rejected() -> None:
    with pytest.raises(
        UnsupportedMediaType, match=r"mismatch\.pdf: content is text/plain.*'\.pdf'"
    ):
        detect_media_type(fixture_bytes("bad", "mismatch.pdf"), filename="mismatch.pdf")


@pytest.mark.parametrize(
    ("source", "claimed"),
    [
        ("report.pdf", "notes.txt"),
        ("report.pdf", "slides.pptx"),
        ("onboarding.docx", "report.pdf"),
        ("budget.xlsx", "budget.docx"),
        ("field_guide.epub", "guide.odt"),
        ("letter.rtf", "letter.txt"),
        ("announcement.eml", "memo.pdf"),
    ],
)
def test_content_that_contradicts_the_name_is_rejected(source: str, claimed: str) -> None:
    detected = EXPECTED_TYPES[source]
    with pytest.raises(UnsupportedMediaType, match=re.escape(f"{claimed}: content is {detected}")):
        detect_media_type(fixture_bytes("acme", source), filename=claimed)


@pytest.mark.parametrize(
    ("source", "filename", "expected"),
    [
        ("handbook.md", "notes.txt", detect.PLAIN_TEXT),
        ("policy.txt", "README", detect.PLAIN_TEXT),
        ("policy.txt", "policy.markdown", detect.MARKDOWN),
        ("faq.html", "faq", detect.HTML),
        ("settings.json", "settings.txt", detect.PLAIN_TEXT),
        ("announcement.eml", "announcement.txt", detect.PLAIN_TEXT),
        ("announcement.eml", "announcement", detect.EMAIL),
        ("report.pdf", "REPORT.PDF", detect.PDF),
        ("report.pdf", "C:\\Users\\ann\\q3 report.pdf", detect.PDF),
        ("onboarding.docx", "upload", detect.DOCX),
    ],
)
def test_extension_refines_text_and_is_optional(source: str, filename: str, expected: str) -> None:
    assert detect_media_type(fixture_bytes("acme", source), filename=filename) == expected


def test_invalid_json_named_json_is_rejected() -> None:
    with pytest.raises(UnsupportedMediaType, match=r"broken\.json"):
        detect_media_type(b'{"unterminated": [1, 2', filename="broken.json")


def test_text_with_an_unknown_extension_is_rejected() -> None:
    with pytest.raises(UnsupportedMediaType, match=r"tool\.py"):
        detect_media_type(b"import os\n\nprint(os.getcwd())\n", filename="tool.py")


def test_email_detected_as_plain_text_is_accepted_by_its_extension() -> None:
    data = b"Subject: Hello\nFrom: ann@acme.example\nX-Note: short\n\nSee you at nine.\n"
    assert detect_media_type(data, filename="hello.eml") == detect.EMAIL


def test_plain_zip_is_reported_as_an_archive() -> None:
    data = zip_of({"a.txt": b"hello", "b.txt": b"world"})
    assert detect_media_type(data, filename="bundle.zip") == ARCHIVE_MEDIA_TYPE
    assert detect_media_type(data, filename="bundle") == ARCHIVE_MEDIA_TYPE
    with pytest.raises(UnsupportedMediaType, match=r"bundle\.docx: content is application/zip"):
        detect_media_type(data, filename="bundle.docx")


def test_macro_enabled_office_package_is_rejected() -> None:
    types = (
        b'<Types><Override PartName="/word/document.xml" '
        b'ContentType="application/vnd.ms-word.document.macroEnabled.main+xml"/></Types>'
    )
    data = zip_of({"[Content_Types].xml": types, "word/document.xml": b"<w:document/>"})
    with pytest.raises(UnsupportedMediaType, match="unsupported Office Open XML"):
        detect_media_type(data, filename="macro.docx")


def test_other_opendocument_kinds_are_rejected() -> None:
    data = zip_of({"mimetype": b"application/vnd.oasis.opendocument.spreadsheet"})
    with pytest.raises(UnsupportedMediaType, match=r"opendocument\.spreadsheet"):
        detect_media_type(data, filename="sheet.ods")


def test_corrupt_zip_container_is_rejected() -> None:
    data = fixture_bytes("acme", "onboarding.docx")[:2000]
    with pytest.raises(UnsupportedMediaType, match="corrupt or unreadable zip"):
        detect_media_type(data, filename="onboarding.docx")


def test_image_is_rejected_naming_its_type() -> None:
    png = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + b"\x00" * 64
    with pytest.raises(UnsupportedMediaType, match=r"photo\.txt: content of type image/png"):
        detect_media_type(png, filename="photo.txt")
