"""The light spaCy pipelines `ingest.parse` gives unstructured classify text like the stock one."""

from typing import Any

import pytest
import spacy
from unstructured.nlp import tokenize

from ingest import detect, parse
from tests.ingest.test_detect import CASES, FIXTURES

PROSE = (
    "Quarterly Maintenance Review\n\n"
    "The pump station was inspected on Monday. Two valves were replaced, and the seals "
    "held at full pressure. Dr. Smith signed the report at 5 p.m. on the same day.\n\n"
    "NEXT STEPS\n\n"
    "Order gaskets\n\n"
    "Replace the rotor bearing before winter."
)


def _outline(name: str, data: bytes) -> list[tuple[str, str]]:
    media_type = detect.detect_media_type(data, filename=name)
    elements = parse.partition_document(data, media_type=media_type, filename=name)
    return [(e.category, e.text) for e in elements]


def _documents() -> list[tuple[str, bytes]]:
    files = [(name, (FIXTURES / tenant / name).read_bytes()) for tenant, name in CASES]
    return [f for f in files if not f[0].endswith(".pdf")] + [("review.txt", PROSE.encode())]


def _clear_caches() -> None:
    for cached in (tokenize._process_cached, tokenize.word_tokenize, tokenize.pos_tag):
        cached.cache_clear()


def _use_stock_spacy(monkeypatch: pytest.MonkeyPatch) -> None:
    """unstructured's own pipeline: tok2vec, tagger and the parser for sentence boundaries."""
    nlp = spacy.load(parse.SPACY_MODEL, exclude=["ner", "lemmatizer", "attribute_ruler"])
    monkeypatch.setattr(tokenize, "_get_nlp", lambda: nlp)
    monkeypatch.setattr(parse, "_PREFILL", [])  # no Docs from the light tagger ahead
    monkeypatch.setattr(
        tokenize, "_tokenize_for_cache", lambda text: tuple(s.text for s in nlp(text).sents)
    )


def test_the_light_pipeline_is_installed() -> None:
    parse.warm_up()
    assert "parser" not in tokenize._get_nlp().pipe_names
    assert tokenize.sent_tokenize("One here. Two there.") == ["One here.", "Two there."]


def test_light_and_stock_spacy_yield_the_same_elements(monkeypatch: pytest.MonkeyPatch) -> None:
    parse.warm_up()
    documents = _documents()
    try:
        _clear_caches()
        light = [_outline(name, data) for name, data in documents]
        _use_stock_spacy(monkeypatch)
        _clear_caches()
        stock = [_outline(name, data) for name, data in documents]
    finally:
        _clear_caches()
    assert light == stock
    assert ("Title", "NEXT STEPS") in stock[-1]


def test_short_lines_are_tagged_ahead_in_one_batch(monkeypatch: pytest.MonkeyPatch) -> None:
    parse.warm_up()
    _clear_caches()
    one_by_one: list[str] = []
    run = tokenize._run_pipeline

    def counted(text: str) -> Any:
        one_by_one.append(text)
        return run(text)

    monkeypatch.setattr(tokenize, "_run_pipeline", counted)
    elements = _outline("review.txt", PROSE.encode())
    assert ("Title", "NEXT STEPS") in elements
    assert ("Title", "Order gaskets") in elements  # its verb check needed the tagger: prefilled
    assert one_by_one == []
