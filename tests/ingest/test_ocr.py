"""Scanned PDFs: OCR'd offline with Debian's tesseract when installed, else "needs OCR"."""

import shutil
import socket
from functools import cache
from pathlib import Path

import pytest

from ingest import detect, guard
from ingest.errors import ParseError
from ingest.parse import Element, partition_document
from ingest.sandbox import ProcessParser
from tests.ingest.test_detect import FIXTURES

MEMO = FIXTURES / "ocr" / "scanned_memo.pdf"
NOISE = FIXTURES / "bad" / "scanned.pdf"
needs_tesseract = pytest.mark.skipif(
    shutil.which("tesseract") is None or not guard.ocr_available(),
    reason="needs Debian tesseract-ocr and poppler-utils (and unstructured-pytesseract)",
)


def parse(path: Path) -> list[Element]:
    return partition_document(path.read_bytes(), media_type=detect.PDF, filename=path.name)


@cache
def memo() -> tuple[Element, ...]:
    return tuple(parse(MEMO))


def text_of(page: int) -> str:
    return "\n".join(e.text for e in memo() if e.page == page)


@pytest.fixture
def no_tesseract(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Hide every executable (tesseract, pdftoppm) from this process."""
    monkeypatch.setenv("PATH", str(tmp_path))
    assert shutil.which("tesseract") is None


def test_the_fixture_is_a_two_page_scan_without_a_text_layer() -> None:
    data = MEMO.read_bytes()
    assert len(data) < 100_000
    assert b"/Font" not in data
    assert data.count(b"/Subtype /Image") == 2


@pytest.mark.usefixtures("no_tesseract")
@pytest.mark.parametrize("path", [MEMO, NOISE], ids=["memo", "noise"])
def test_without_tesseract_a_scanned_pdf_needs_ocr(path: Path) -> None:
    assert not guard.ocr_available()
    with pytest.raises(ParseError) as caught:
        parse(path)
    assert str(caught.value) == f"{path.name}: scanned PDF without a text layer: needs OCR"


@pytest.mark.usefixtures("no_tesseract")
def test_without_tesseract_text_pdfs_still_parse() -> None:
    elements = parse(FIXTURES / "acme" / "report.pdf")
    assert any("ACME-PDF-0917" in e.text for e in elements)


def test_without_the_python_wrapper_ocr_is_off(monkeypatch: pytest.MonkeyPatch) -> None:
    # ocr_only without unstructured_pytesseract silently becomes hi_res (a hub download).
    monkeypatch.setattr(guard, "OCR_MODULE", "no_such_module_for_enclave_tests")
    assert not guard.ocr_available()
    with pytest.raises(ParseError, match="needs OCR"):
        parse(MEMO)


@needs_tesseract
@pytest.mark.slow
def test_ocr_reads_the_scanned_memo_with_page_numbers() -> None:
    page_one, page_two = text_of(1), text_of(2)
    assert "Scanned" in page_one
    assert "4471" in page_one
    assert "Loading dock" in page_two
    assert "4471" not in page_two
    assert {e.page for e in memo()} == {1, 2}


@needs_tesseract
@pytest.mark.slow
def test_ocr_elements_are_clean_plain_strings() -> None:
    ids = [e.element_id for e in memo()]
    assert len(set(ids)) == len(ids)
    for element in memo():
        assert type(element.text) is str
        assert element.text
        assert element.text == element.text.strip()
        assert element.parent_id is None or element.parent_id in ids


@needs_tesseract
@pytest.mark.slow
def test_ocr_opens_no_network_connection(monkeypatch: pytest.MonkeyPatch) -> None:
    attempts: list[object] = []

    def refuse(self: socket.socket, address: object) -> None:
        attempts.append(address)
        raise OSError("network disabled in tests")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    assert any("4471" in e.text for e in parse(MEMO))
    assert attempts == []


@needs_tesseract
@pytest.mark.slow
def test_a_scan_of_noise_still_fails_with_needs_ocr() -> None:
    with pytest.raises(ParseError, match=r"scanned\.pdf: .*needs OCR.*OCR found no readable text"):
        parse(NOISE)


@needs_tesseract
@pytest.mark.slow
def test_ocr_runs_in_the_sandboxed_child() -> None:
    parser = ProcessParser(timeout_s=120, warm=False)
    try:
        elements = parser(MEMO.read_bytes(), detect.PDF, MEMO.name)
    finally:
        parser.close()
    assert {e.page for e in elements} == {1, 2}
    assert any("4471" in e.text and e.page == 1 for e in elements)
