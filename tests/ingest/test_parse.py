"""Partitioning: clean elements for every fixture format, typed errors for every bad file."""

import importlib
import io
import os
import socket
import zipfile
from concurrent.futures import ThreadPoolExecutor
from functools import cache
from typing import Any

import pytest

from ingest import detect, guard
from ingest.errors import ParseError
from ingest.parse import DROPPED_CATEGORIES, SPACY_MODEL, Element, partition_document
from tests.ingest.test_detect import CASES, EXPECTED_TYPES, FIXTURES

PAGED = {"report.pdf", "roadmap.pptx", "budget.xlsx"}
CODES = {
    "acme": {
        "handbook.md": "ACME-7731",
        "policy.txt": "ACME-SVC",
        "faq.html": "ACME-FAQ-2048",
        "report.pdf": "ACME-PDF-0917",
        "onboarding.docx": "ACME-ONB-2207",
        "roadmap.pptx": "ACME-SLD-5150",
        "budget.xlsx": "ACME-HC-3301",
        "inventory.csv": "ACME-INV-8812",
        "suppliers.tsv": "ACME-SUP-6001",
        "announcement.eml": "ACME-EML-9034",
        "field_guide.epub": "ACME-EPB-4420",
        "minutes.odt": "ACME-ODT-3318",
        "letter.rtf": "ACME-RTF-6621",
        "settings.json": "ACME-JSN-1188",
    },
    "globex": {
        "handbook.md": "GLX-4410",
        "policy.txt": "GLX-SW",
        "faq.html": "GLX-FAQ-3071",
        "report.pdf": "GLX-PDF-5532",
        "onboarding.docx": "GLX-ONB-5518",
        "roadmap.pptx": "GLX-SLD-7720",
        "budget.xlsx": "GLX-HC-1201",
        "inventory.csv": "GLX-INV-2290",
        "suppliers.tsv": "GLX-SUP-3101",
        "announcement.eml": "GLX-EML-6081",
        "field_guide.epub": "GLX-EPB-2764",
        "minutes.odt": "GLX-ODT-8846",
        "letter.rtf": "GLX-RTF-5093",
        "settings.json": "GLX-JSN-4437",
    },
}
OTHER_TENANT_MARK = {"acme": "GLX", "globex": "ACME"}
HEADINGS = {
    "acme": {
        "handbook.md": "Safety on the Robot Floor",
        "policy.txt": "ACME ROBOTICS INFORMATION SECURITY POLICY",
        "faq.html": "Who approves firmware releases?",
        "report.pdf": "Financial Outlook",
        "onboarding.docx": "Systems You Will Use",
        "roadmap.pptx": "Goals for Next Year",
        "field_guide.epub": "Replacing a Gripper Finger",
        "minutes.odt": "Action Items",
        "letter.rtf": "Customer Letter",
    },
    "globex": {
        "handbook.md": "Offshore Safety",
        "policy.txt": "GLOBEX ENERGY GRID CONNECTION POLICY",
        "faq.html": "How do I report a turbine fault?",
        "report.pdf": "Investment Plan",
        "onboarding.docx": "Mandatory Training",
        "roadmap.pptx": "Project Milestones",
        "field_guide.epub": "Repairing Leading Edge Erosion",
        "minutes.odt": "Follow-up Actions",
        "letter.rtf": "Landowner Letter",
    },
}
HEADING_CASES = [(tenant, name) for tenant, names in HEADINGS.items() for name in names]
# (tenant, file, text only found on that page/slide/sheet, page number)
PAGE_FACTS = [
    ("acme", "report.pdf", "Prairie Freight", 1),
    ("acme", "report.pdf", "Project Mesa", 2),
    ("acme", "roadmap.pptx", "ACME-SLD-5150", 2),
    ("acme", "roadmap.pptx", "second paint booth", 3),
    ("acme", "budget.xlsx", "Vision sensors", 1),
    ("acme", "budget.xlsx", "ACME-HC-3301", 2),
    ("globex", "report.pdf", "Kittiwake Bank", 1),
    ("globex", "report.pdf", "Project Tern", 2),
    ("globex", "roadmap.pptx", "GLX-SLD-7720", 2),
    ("globex", "budget.xlsx", "GLX-HC-1201", 2),
]


@cache
def parsed(tenant: str, name: str) -> tuple[Element, ...]:
    data = (FIXTURES / tenant / name).read_bytes()
    return tuple(partition_document(data, media_type=EXPECTED_TYPES[name], filename=name))


def containing(elements: tuple[Element, ...], needle: str) -> Element:
    return next(e for e in elements if needle in e.text)


def parse_bad(name: str, media_type: str) -> list[Element]:
    data = (FIXTURES / "bad" / name).read_bytes()
    return partition_document(data, media_type=media_type, filename=name)


@pytest.mark.parametrize(("tenant", "name"), CASES)
def test_every_fixture_yields_clean_elements(tenant: str, name: str) -> None:
    elements = parsed(tenant, name)
    assert elements
    ids = [e.element_id for e in elements]
    assert len(set(ids)) == len(ids)
    for element in elements:
        assert element.text
        assert element.text == element.text.strip()
        assert element.category not in DROPPED_CATEGORIES
        assert element.parent_id is None or element.parent_id in ids


@pytest.mark.parametrize(("tenant", "name"), CASES)
def test_each_fixture_carries_its_tenant_fact_and_nothing_of_the_other(
    tenant: str, name: str
) -> None:
    text = "\n".join(e.text for e in parsed(tenant, name))
    assert CODES[tenant][name] in text
    assert OTHER_TENANT_MARK[tenant] not in text


@pytest.mark.parametrize(("tenant", "name"), CASES)
def test_only_paged_formats_carry_page_numbers(tenant: str, name: str) -> None:
    pages = {e.page for e in parsed(tenant, name)}
    if name in PAGED:
        assert None not in pages
        assert len(pages) >= 2
    else:
        assert pages == {None}


@pytest.mark.parametrize(("tenant", "name", "needle", "page"), PAGE_FACTS)
def test_page_numbers_point_at_the_right_page(
    tenant: str, name: str, needle: str, page: int
) -> None:
    assert containing(parsed(tenant, name), needle).page == page


@pytest.mark.parametrize(("tenant", "name"), HEADING_CASES)
def test_headings_come_out_as_titles(tenant: str, name: str) -> None:
    heading = HEADINGS[tenant][name]
    assert any(e.text == heading and e.category == "Title" for e in parsed(tenant, name))


def test_body_text_links_to_its_heading() -> None:
    elements = parsed("acme", "handbook.md")
    heading = containing(elements, "Safety on the Robot Floor")
    assert containing(elements, "light curtains").parent_id == heading.element_id


@pytest.mark.parametrize(
    ("tenant", "name", "noise"),
    [
        ("acme", "report.pdf", "Page 1 of 2"),
        ("acme", "report.pdf", "Quarterly Operations Report - ACME-7731"),
        ("globex", "report.pdf", "Page 2 of 2"),
        ("acme", "onboarding.docx", "Confidential - do not forward"),
        ("acme", "onboarding.docx", "Acme Robotics - internal"),
        ("globex", "faq.html", "Copyright Globex Energy"),
    ],
)
def test_headers_and_footers_are_dropped(tenant: str, name: str, noise: str) -> None:
    assert not any(noise in e.text for e in parsed(tenant, name))


def test_children_of_a_dropped_header_are_relinked() -> None:
    elements = parsed("acme", "onboarding.docx")
    title = containing(elements, "Acme Robotics Onboarding Guide")
    assert title.parent_id is None
    assert containing(elements, "Systems You Will Use").parent_id == title.element_id


def test_partitioning_is_deterministic() -> None:
    data = (FIXTURES / "acme" / "report.pdf").read_bytes()
    again = partition_document(data, media_type=detect.PDF, filename="report.pdf")
    assert tuple(again) == parsed("acme", "report.pdf")


@pytest.mark.parametrize(
    ("name", "media_type", "message"),
    [
        ("encrypted.pdf", detect.PDF, r"encrypted\.pdf: encrypted PDF"),
        ("corrupt.pdf", detect.PDF, r"corrupt\.pdf: corrupt or unreadable PDF"),
        ("scanned.pdf", detect.PDF, r"scanned\.pdf: .*needs OCR"),
        ("empty.txt", detect.PLAIN_TEXT, r"empty\.txt: no extractable text"),
        ("binary.txt", detect.PLAIN_TEXT, r"binary\.txt: corrupt or unreadable file"),
        ("zipbomb.docx", detect.DOCX, r"zipbomb\.docx: archive expands too much \(zip bomb\?\)"),
        ("billion_laughs.html", detect.HTML, r"billion_laughs\.html: .*declares XML entities"),
        ("mismatch.pdf", detect.PDF, r"mismatch\.pdf: corrupt or unreadable PDF"),
    ],
)
def test_bad_files_raise_a_readable_parse_error(name: str, media_type: str, message: str) -> None:
    with pytest.raises(ParseError, match=message):
        parse_bad(name, media_type)


def test_whitespace_only_text_has_nothing_to_extract() -> None:
    with pytest.raises(ParseError, match="no extractable text"):
        partition_document(b" \n\t\n", media_type=detect.PLAIN_TEXT, filename="blank.txt")


def test_unknown_media_type_is_a_parse_error() -> None:
    with pytest.raises(ParseError, match="cannot parse media type application/zip"):
        partition_document(b"PK\x05\x06" + b"\0" * 18, media_type="application/zip", filename="a")


def test_truncated_docx_is_a_parse_error() -> None:
    data = (FIXTURES / "acme" / "onboarding.docx").read_bytes()[:3000]
    with pytest.raises(ParseError, match=r"cut\.docx: corrupt or unreadable archive"):
        partition_document(data, media_type=detect.DOCX, filename="cut.docx")


def test_entity_declarations_inside_a_container_are_rejected() -> None:
    source = (FIXTURES / "acme" / "minutes.odt").read_bytes()
    buf = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(source)) as src, zipfile.ZipFile(buf, "w") as out:
        for info in src.infolist():
            data = src.read(info)
            if info.filename == "content.xml":
                data = data.replace(b"?>", b'?><!DOCTYPE x [<!ENTITY a "aaaa">]>', 1)
            out.writestr(info, data)
    with pytest.raises(ParseError, match="declares XML entities"):
        partition_document(buf.getvalue(), media_type=detect.ODT, filename="minutes.odt")


def test_archives_with_too_many_members_are_rejected(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(guard, "MAX_MEMBERS", 3)
    data = (FIXTURES / "acme" / "field_guide.epub").read_bytes()
    with pytest.raises(ParseError, match="too many members"):
        partition_document(data, media_type=detect.EPUB, filename="field_guide.epub")


def test_unstructured_is_configured_for_offline_use() -> None:
    parsed("acme", "handbook.md")
    tokenize: Any = importlib.import_module("unstructured.nlp.tokenize")
    assert tokenize._SPACY_MODEL_NAME == SPACY_MODEL
    assert os.environ["DO_NOT_TRACK"] == "1"
    assert os.environ["HF_HUB_OFFLINE"] == "1"


def test_partitioning_opens_no_network_connection(monkeypatch: pytest.MonkeyPatch) -> None:
    attempts: list[object] = []

    def refuse(self: socket.socket, address: object) -> None:
        attempts.append(address)
        raise OSError("network disabled in tests")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    text = b"Offline check\n\nThe quarterly review of the Denver studio happens on Fridays.\n"
    elements = partition_document(text, media_type=detect.PLAIN_TEXT, filename="offline.txt")
    assert elements
    assert attempts == []


def test_concurrent_calls_are_safe() -> None:
    names = ["report.pdf", "handbook.md", "onboarding.docx", "field_guide.epub"] * 2

    def run(name: str) -> int:
        data = (FIXTURES / "globex" / name).read_bytes()
        return len(partition_document(data, media_type=EXPECTED_TYPES[name], filename=name))

    with ThreadPoolExecutor(max_workers=4) as pool:
        counts = list(pool.map(run, names))
    assert counts == [len(parsed("globex", n)) for n in names]
