"""Tests for the BM25 sparse encoder."""

import json
import math
import os
import subprocess
import sys
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from retrieval.sparse import SparseVector, encode_document, encode_query, token_index, tokenize

REPO_ROOT = Path(__file__).resolve().parents[2]
EMPTY = SparseVector(indices=(), values=())


def weight(vector: SparseVector, token: str) -> float:
    """The value stored for one (already stemmed) token, 0.0 if absent."""
    return dict(zip(vector.indices, vector.values, strict=True)).get(token_index(token), 0.0)


def test_stemming_maps_inflections_to_one_token() -> None:
    assert tokenize("running") == tokenize("runs") == ["run"]


def test_stop_words_are_removed() -> None:
    assert tokenize("The cat and the hat") == ["cat", "hat"]


def test_alphanumeric_code_keeps_parts_and_joined_form() -> None:
    tokens = tokenize("Order ACME-7731 shipped")
    assert {"7731", "acme7731"} <= set(tokens)
    assert set(tokenize("acme7731")) <= set(tokens)


def test_unicode_words_are_normalised_and_kept() -> None:
    assert tokenize("Café") == tokenize("cafe\u0301") == ["café"]
    assert tokenize("ÜBER") == ["über"]
    assert tokenize("ﬁle") == ["file"]


def test_numbers_are_kept() -> None:
    assert tokenize("In 2024, 17 patients") == ["2024", "17", "patient"]


def test_apostrophes_leave_no_stray_letters() -> None:
    assert tokenize("the patient's data") == ["patient", "data"]


def test_indices_are_stable_across_processes() -> None:
    text = "Hashing ACME-7731 must not depend on PYTHONHASHSEED, über alles."
    code = (
        "import json, sys; from retrieval.sparse import encode_document; "
        "v = encode_document(sys.argv[1]); print(json.dumps([v.indices, v.values]))"
    )
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    result = subprocess.run(
        [sys.executable, "-c", code, text],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    indices, values = json.loads(result.stdout)
    local = encode_document(text)
    assert tuple(indices) == local.indices
    assert tuple(values) == local.values


def test_indices_sorted_unique_and_31_bit() -> None:
    text = " ".join(f"term{i} word{i % 7} code-{i}" for i in range(300))
    for vector in (encode_document(text), encode_query(text)):
        assert list(vector.indices) == sorted(set(vector.indices))
        assert len(vector.indices) == len(vector.values)
        assert all(0 <= index < 2**31 for index in vector.indices)


def test_hand_computed_bm25_weight() -> None:
    # tokens: appl, appl, banana -> doc length 3; appl has tf 2
    vector = encode_document("apple apple banana")
    norm = 1.2 * (1 - 0.75 + 0.75 * 3 / 256)  # 0.310546875
    assert norm == pytest.approx(0.310546875)
    assert weight(vector, "appl") == pytest.approx(2 * 2.2 / (2 + norm))
    assert weight(vector, "appl") == pytest.approx(1.904312, abs=1e-6)
    assert weight(vector, "banana") == pytest.approx(2.2 / (1 + norm))


def _doc_with_tf(tf: int, length: int = 20) -> str:
    """A document of `length` tokens in which "apple" occurs `tf` times."""
    return " ".join(["apple"] * tf + [f"w{i}" for i in range(length - tf)])


def test_term_frequency_saturates_below_k1_plus_one() -> None:
    w1, w2, w3, w10 = (weight(encode_document(_doc_with_tf(tf)), "appl") for tf in (1, 2, 3, 10))
    assert w1 < w2 < w3 < w10 < 1.2 + 1
    assert w3 - w2 < w2 - w1  # each extra occurrence adds less


def test_longer_document_weighs_same_tf_less() -> None:
    short = encode_document(_doc_with_tf(1, length=5))
    long = encode_document(_doc_with_tf(1, length=500))
    assert weight(long, "appl") < weight(short, "appl")
    no_norm = [encode_document(_doc_with_tf(1, length=n), b=0.0) for n in (5, 500)]
    assert weight(no_norm[0], "appl") == pytest.approx(weight(no_norm[1], "appl"))


@pytest.mark.parametrize("text", ["", "   \n", "the and of to", "!!! --- ..."])
def test_empty_or_stop_word_only_input_gives_empty_vector(text: str) -> None:
    assert tokenize(text) == []
    assert encode_document(text) == EMPTY
    assert encode_query(text) == EMPTY


def test_query_weights_are_one_per_distinct_term() -> None:
    vector = encode_query("run running runs apple apples")
    assert vector.values == (1.0, 1.0)
    assert set(vector.indices) == {token_index("run"), token_index("appl")}


@pytest.mark.parametrize(
    ("k1", "b", "avg_len"), [(0.0, 0.75, 256.0), (1.2, 1.5, 256.0), (1.2, 0.75, 0.0)]
)
def test_invalid_bm25_parameters_are_rejected(k1: float, b: float, avg_len: float) -> None:
    with pytest.raises(ValueError, match="BM25"):
        encode_document("apple", k1=k1, b=b, avg_len=avg_len)


def test_tokenize_is_thread_safe() -> None:
    texts = [f"running jumped generalizations item-{i} über {i}" for i in range(400)]
    expected = [tokenize(text) for text in texts]
    with ThreadPoolExecutor(max_workers=8) as pool:
        assert list(pool.map(tokenize, texts)) == expected


def _rank(query: str, docs: list[str]) -> list[int]:
    """Doc positions by BM25 score, IDF computed in memory as Qdrant does."""
    vectors = [encode_document(doc) for doc in docs]
    doc_freq = Counter(index for vector in vectors for index in vector.indices)
    q = encode_query(query)
    scores = []
    for vector in vectors:
        weights = dict(zip(vector.indices, vector.values, strict=True))
        scores.append(
            sum(
                math.log(1 + (len(docs) - doc_freq[i] + 0.5) / (doc_freq[i] + 0.5)) * weights[i]
                for i in q.indices
                if i in weights
            )
        )
    return sorted(range(len(docs)), key=lambda position: -scores[position])


def test_exact_code_is_strongly_preferred() -> None:
    docs = [
        "ACME corporation quarterly report on order volume 7731 units.",
        "Invoice for part ACME-7731, shipped to the Lyon warehouse.",
        "ACME announces a new product line.",
        "Order 7731 was cancelled by the customer.",
    ]
    assert _rank("ACME-7731", docs)[0] == 1
    assert _rank("acme7731", docs)[0] == 1
