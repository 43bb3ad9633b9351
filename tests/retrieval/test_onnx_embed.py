"""The ONNX Runtime encoder agrees with sentence-transformers, caches its export, is consistent."""

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from retrieval import onnx_embed
from retrieval.embed import SentenceTransformerEmbedder
from retrieval.onnx_embed import OnnxEmbedder

# Exporting the real model takes ~5-15 s on 2 cores, quantising a few more.
pytestmark = pytest.mark.slow

SENTENCES = [
    "Vitamin D supplementation reduces the risk of respiratory infections.",
    "How do I reset my password?",
    "Mitochondria are the powerhouse of the cell.",
    "The quarterly budget forecast was revised after the audit.",
    "a",
    "Long text. " * 300,  # beyond 256 tokens: truncated the same way by both encoders
]


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One export shared by the module's tests."""
    return tmp_path_factory.mktemp("onnx-models")


@pytest.fixture(scope="module")
def reference() -> np.ndarray:
    """sentence-transformers' vectors of `SENTENCES`."""
    return _matrix(SentenceTransformerEmbedder().embed_documents(SENTENCES))


@pytest.fixture(scope="module")
def fp32(cache_dir: Path) -> OnnxEmbedder:
    """The exported fp32 encoder."""
    return OnnxEmbedder(cache_dir, batch_size=4)


@pytest.fixture(scope="module")
def int8(cache_dir: Path, fp32: OnnxEmbedder) -> OnnxEmbedder:
    """The int8 encoder, quantised from the fp32 export, batching 4 texts per call."""
    return OnnxEmbedder(cache_dir, quantize=True, batch_size=4)


def _matrix(vectors: Sequence[Sequence[float]]) -> np.ndarray:
    return np.asarray(vectors, dtype=np.float64)


def _cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.asarray((a * b).sum(axis=1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1))


def test_fp32_matches_sentence_transformers(fp32: OnnxEmbedder, reference: np.ndarray) -> None:
    vectors = _matrix(fp32.embed_documents(SENTENCES))
    assert vectors.shape == (len(SENTENCES), 384) == (len(SENTENCES), fp32.dimension)
    assert _cosines(vectors, reference).min() >= 0.999
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


def test_int8_is_close_to_sentence_transformers(int8: OnnxEmbedder, reference: np.ndarray) -> None:
    vectors = _matrix(int8.embed_documents(SENTENCES))
    assert _cosines(vectors, reference).min() >= 0.98
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert int8.model_file.name.endswith(".int8.onnx")
    fp32_file = int8.model_file.with_name(int8.model_file.name.replace(".int8.", ".fp32."))
    assert int8.model_file.stat().st_size < 0.5 * fp32_file.stat().st_size


def test_names_tell_the_backends_apart(fp32: OnnxEmbedder, int8: OnnxEmbedder) -> None:
    assert (fp32.name, int8.name) == ("all-MiniLM-L6-v2-onnx", "all-MiniLM-L6-v2-onnx-int8")
    assert fp32.max_length == 256


def test_export_is_cached(
    cache_dir: Path, fp32: OnnxEmbedder, int8: OnnxEmbedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(*args: object) -> None:
        raise AssertionError("exported again")

    monkeypatch.setattr(onnx_embed, "export_onnx", refuse)
    monkeypatch.setattr(onnx_embed, "quantize_onnx", refuse)
    before = {p: p.stat().st_mtime_ns for p in cache_dir.iterdir()}
    again = OnnxEmbedder(cache_dir, quantize=True)
    assert again.model_file == int8.model_file
    assert {p: p.stat().st_mtime_ns for p in cache_dir.iterdir()} == before
    assert sorted(p.suffix for p in before) == [".onnx", ".onnx"]  # no temp files left


def test_batch_and_single_query_agree(fp32: OnnxEmbedder) -> None:
    batch = _matrix(fp32.embed_documents(SENTENCES))  # padded, reordered by length
    single = _matrix([fp32.embed_query(text) for text in SENTENCES])
    assert _cosines(batch, single).min() >= 0.9999
    assert fp32.embed_documents([]) == []


def test_int8_batches_agree_with_single_queries(cache_dir: Path, int8: OnnxEmbedder) -> None:
    """Dynamic int8 scales activations per batch: one text per call by default, so exact."""
    single = _matrix([int8.embed_query(text) for text in SENTENCES])
    by_default = _matrix(OnnxEmbedder(cache_dir, quantize=True).embed_documents(SENTENCES))
    assert np.allclose(by_default, single, atol=1e-6)
    batched = _matrix(int8.embed_documents(SENTENCES))  # batch_size=4: neighbours matter
    assert _cosines(batched, single).min() >= 0.98


def test_concurrent_calls_give_the_same_vectors(fp32: OnnxEmbedder) -> None:
    expected = _matrix([fp32.embed_query(text) for text in SENTENCES])
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(fp32.embed_query, SENTENCES * 3))
    assert np.allclose(_matrix(results), np.vstack([expected] * 3), atol=1e-5)


def test_parallel_runs_give_the_vectors_of_one_run_at_a_time(cache_dir: Path) -> None:
    texts = [f"{text} ({n})" for n in range(4) for text in SENTENCES[:-1]]  # none truncated
    serial = OnnxEmbedder(cache_dir, quantize=True, parallel=1).embed_documents(texts)
    parallel = OnnxEmbedder(cache_dir, quantize=True, parallel=3).embed_documents(texts)
    assert np.array_equal(_matrix(parallel), _matrix(serial))  # same vectors, input order
    assert len({tuple(v) for v in parallel}) == len(texts)
