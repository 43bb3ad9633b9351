"""The chunker: bounded, title-led chunks whose offsets slice the canonical text exactly."""

import hashlib

from ingest.chunk import SEPARATOR, chunk_elements
from ingest.parse import Element


def el(
    i: int,
    text: str,
    category: str = "NarrativeText",
    page: int | None = None,
    parent: str | None = None,
) -> Element:
    return Element(text=text, category=category, page=page, element_id=f"e{i}", parent_id=parent)


def test_canonical_text_joins_elements_and_offsets_slice_it_exactly() -> None:
    elements = [el(0, "Intro", "Title"), el(1, "First paragraph."), el(2, "Second one.")]
    result = chunk_elements(elements)
    assert result.text == SEPARATOR.join(["Intro", "First paragraph.", "Second one."])
    for chunk in result.chunks:
        assert result.text[chunk.char_start : chunk.char_end] == chunk.text
        assert chunk.sha256 == hashlib.sha256(chunk.text.encode()).hexdigest()


def test_a_heading_opens_a_new_chunk_and_names_the_section() -> None:
    elements = [
        el(0, "Safety", "Title"),
        el(1, "Wear goggles.", parent="e0"),
        el(2, "Billing", "Title"),
        el(3, "Invoices are monthly.", parent="e2"),
    ]
    chunks = chunk_elements(elements).chunks
    assert [c.text for c in chunks] == [
        "Safety\n\nWear goggles.",
        "Billing\n\nInvoices are monthly.",
    ]
    assert [c.section for c in chunks] == ["Safety", "Billing"]


def test_consecutive_headings_stay_with_the_body_that_follows() -> None:
    elements = [el(0, "Part I", "Title"), el(1, "Chapter 1", "Title"), el(2, "Body text.")]
    chunks = chunk_elements(elements).chunks
    assert len(chunks) == 1
    assert chunks[0].section == "Chapter 1"


def test_section_falls_back_to_the_last_heading_without_parent_links() -> None:
    chunks = chunk_elements([el(0, "Scope", "Title"), el(1, "Applies to all staff.")]).chunks
    assert chunks[0].section == "Scope"


def test_no_heading_means_no_section() -> None:
    assert chunk_elements([el(0, "Just text.")]).chunks[0].section is None


def test_long_elements_are_split_under_the_bound_at_sentence_ends() -> None:
    sentence = "The pump must be primed before start. "
    long_text = (sentence * 80).strip()
    result = chunk_elements([el(0, long_text)], max_chars=300, soft_chars=200)
    assert len(result.chunks) > 5
    for chunk in result.chunks:
        assert len(chunk.text) <= 300
        assert result.text[chunk.char_start : chunk.char_end] == chunk.text
        assert chunk.text.endswith(".")
    covered = "".join(c.text for c in result.chunks).replace(" ", "")
    assert covered == long_text.replace(" ", "")


def test_a_word_longer_than_the_bound_is_cut_hard() -> None:
    result = chunk_elements([el(0, "x" * 1000)], max_chars=300, soft_chars=200)
    assert [len(c.text) for c in result.chunks] == [300, 300, 300, 100]


def test_small_paragraphs_are_packed_until_the_soft_limit() -> None:
    paragraphs = [el(i, f"Paragraph number {i} with some words.") for i in range(40)]
    result = chunk_elements(paragraphs, max_chars=400, soft_chars=300)
    assert 1 < len(result.chunks) < 40
    assert all(len(c.text) <= 400 for c in result.chunks)
    assert [c.ordinal for c in result.chunks] == list(range(len(result.chunks)))


def test_pages_span_the_elements_of_a_chunk() -> None:
    elements = [el(0, "Alpha text.", page=1), el(1, "Beta text.", page=2), el(2, "Gamma.", page=3)]
    result = chunk_elements(elements, max_chars=25, soft_chars=20)
    assert [(c.page_start, c.page_end) for c in result.chunks] == [(1, 2), (3, 3)]
    assert result.page_count == 3


def test_empty_input_gives_no_chunks() -> None:
    result = chunk_elements([])
    assert result.chunks == []
    assert result.text == ""
