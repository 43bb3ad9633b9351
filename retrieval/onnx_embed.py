"""The bundled sentence encoder on ONNX Runtime: exported offline once, optionally int8.

The first construction exports the local sentence-transformers model with
`torch.onnx.export` (mean pooling and L2 normalisation are part of the graph) and,
for `quantize=True`, writes a dynamically int8-quantised copy next to it. Both files
are cached in `cache_dir`, named after a fingerprint of the weights, so later
processes only need onnxruntime and tokenizers (no torch import, no network).
The export and the quantisation run in a child process: torch, transformers and the
model stay out of the caller (a server held ~480 MB more RSS after a first start).
"""

import hashlib
import json
import os
import queue
import subprocess
import sys
import tempfile
import threading
import warnings
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime  # type: ignore[import-untyped]
from tokenizers import Encoding, Tokenizer

from retrieval.embed import default_model_path

DEFAULT_NAME = "all-MiniLM-L6-v2"
DEFAULT_MAX_LENGTH = 256
DEFAULT_PARALLEL = 2
FP32_BATCH = 32
INT8_BATCH = 1
INPUTS = ("input_ids", "attention_mask", "token_type_ids")
OUTPUT = "embedding"
OPSET = 17
WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")

# One export at a time per process; across processes files appear by atomic rename.
_export_lock = threading.Lock()
# Runs `retrieval.onnx_embed.<argv[1]>(Path(argv[2]), Path(argv[3]))`.
_CHILD = (
    "import sys\n"
    "from pathlib import Path\n"
    "from retrieval import onnx_embed\n"
    "getattr(onnx_embed, sys.argv[1])(Path(sys.argv[2]), Path(sys.argv[3]))\n"
)


class OnnxEmbedder:
    """Implements `retrieval.embed.Embedder` with an ONNX Runtime session on the CPU."""

    def __init__(
        self,
        cache_dir: Path,
        *,
        model_path: Path | None = None,
        name: str = DEFAULT_NAME,
        quantize: bool = False,
        batch_size: int | None = None,
        parallel: int = DEFAULT_PARALLEL,
    ) -> None:
        """Export/quantise into `cache_dir` if needed, then open one single-threaded session
        that `parallel` texts (or batches) run through at once, each on its own core.

        Parallel single-threaded runs beat one run spread over the cores: on 2 cores, 2 of
        them embedded ~72 chunks/s where one 2-thread run did ~52, and a query took 2.0 ms
        instead of 2.25 (a 2-thread run waits at every operator for its slower half, which
        any other busy thread makes slower still). The vectors are identical.

        int8 quantises activations dynamically, per tensor: a text's vector then depends a
        little on the other texts of its batch (cosine ~0.99 between batchings). So int8
        encodes one text per call by default (length-sorted batches were no faster here, as
        padding costs what batching saves); fp32 batches 32 texts of similar length.
        """
        source = model_path or default_model_path()
        self._max_length = _max_length(source)
        self.model_file = ensure_model(source, cache_dir, quantize=quantize)
        self._session = _session(self.model_file)
        self._name = f"{name}-onnx-int8" if quantize else f"{name}-onnx"
        self._dimension = _dimension(self._session, source)
        self._batch_size = batch_size or (INT8_BATCH if quantize else FP32_BATCH)
        # A run holds a tokenizer of its own throughout: there are `parallel` of them, so at
        # most that many runs share the cores (concurrent calls into one `Tokenizer` with
        # truncation/padding set have raised "Already borrowed" in some versions).
        self._tokenizers: queue.SimpleQueue[Tokenizer] = queue.SimpleQueue()
        for _ in range(max(1, parallel)):
            self._tokenizers.put(_tokenizer(source, self._max_length))
        self._parallel = max(1, parallel)
        self._pool: ThreadPoolExecutor | None = None
        self._pool_lock = threading.Lock()

    @property
    def name(self) -> str:
        """Model identifier, with the backend (vectors differ slightly from torch's)."""
        return self._name

    @property
    def dimension(self) -> int:
        """Vector length."""
        return self._dimension

    @property
    def max_length(self) -> int:
        """Tokens per text after truncation."""
        return self._max_length

    def embed_documents(self, texts: Sequence[str]) -> list[list[float]]:
        """Encode passages in batches of similar length, L2-normalised, in input order."""
        if not texts:
            return []
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
        batches = [order[s : s + self._batch_size] for s in range(0, len(order), self._batch_size)]
        encoded = self._map(lambda batch: self._encode([texts[i] for i in batch]), batches)
        vectors: list[list[float]] = [[] for _ in texts]
        for batch, rows in zip(batches, encoded, strict=True):
            for i, row in zip(batch, rows, strict=True):
                vectors[i] = row
        return vectors

    def embed_query(self, text: str) -> list[float]:
        """Encode one query, L2-normalised."""
        return self._encode([text])[0]

    def _map(
        self, encode: Callable[[list[int]], list[list[float]]], batches: list[list[int]]
    ) -> list[list[list[float]]]:
        """`encode` each batch, `parallel` at a time (in this thread when there is one)."""
        if len(batches) == 1 or self._parallel == 1:
            return [encode(batch) for batch in batches]
        return list(self._executor().map(encode, batches))

    def _executor(self) -> ThreadPoolExecutor:
        with self._pool_lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(self._parallel, thread_name_prefix="enclave-encode")
            return self._pool

    def _encode(self, texts: list[str]) -> list[list[float]]:
        tokenizer = self._tokenizers.get()
        try:
            feed = _features(tokenizer.encode_batch(texts))
            (output,) = self._session.run([OUTPUT], feed)
        finally:
            self._tokenizers.put(tokenizer)
        rows: list[list[float]] = np.asarray(output, dtype=np.float32).tolist()
        return rows


def _features(encodings: list[Encoding]) -> dict[str, Any]:
    """The graph's int64 inputs; the tokenizer already padded every row to one length."""
    return {
        "input_ids": np.array([e.ids for e in encodings], dtype=np.int64),
        "attention_mask": np.array([e.attention_mask for e in encodings], dtype=np.int64),
        "token_type_ids": np.array([e.type_ids for e in encodings], dtype=np.int64),
    }


def ensure_model(source: Path, cache_dir: Path, *, quantize: bool = False) -> Path:
    """The cached ONNX file of `source` (fp32 or int8), exported/quantised on first use."""
    stem = f"{source.name}-{fingerprint(source)}"
    fp32 = cache_dir / f"{stem}.fp32.onnx"
    with _export_lock:
        _build_once(fp32, lambda target: _in_child(export_onnx, source, target))
        if not quantize:
            return fp32
        int8 = cache_dir / f"{stem}.int8.onnx"
        _build_once(int8, lambda target: _in_child(quantize_onnx, fp32, target))
        return int8


def _in_child(build: Callable[[Path, Path], None], source: Path, target: Path) -> None:
    """Run one of this module's builders in a fresh interpreter, which exits afterwards."""
    command = [sys.executable, "-c", _CHILD, build.__name__, str(source), str(target)]
    done = subprocess.run(command, capture_output=True, text=True, check=False)  # noqa: S603
    if done.returncode != 0:
        raise RuntimeError(f"{build.__name__} failed:\n{done.stderr[-3000:]}")


def fingerprint(source: Path) -> str:
    """Short hash of the weights' location, size and mtime and of the model config."""
    digest = hashlib.sha256((source / "config.json").read_bytes())
    for name in WEIGHT_FILES:
        if (weights := source / name).exists():
            stat = weights.stat()
            digest.update(f"{weights.resolve()}:{stat.st_size}:{stat.st_mtime_ns}".encode())
    return digest.hexdigest()[:12]


def _build_once(target: Path, build: Callable[[Path], None]) -> None:
    """Build `target` via a temp file and an atomic rename, unless it already exists."""
    if target.exists():
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    with _temp_path(target) as temp:
        build(temp)
        temp.chmod(0o644)  # mkstemp creates 0600
        os.replace(temp, target)


@contextmanager
def _temp_path(target: Path) -> Iterator[Path]:
    handle, name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    os.close(handle)
    try:
        yield Path(name)
    finally:
        Path(name).unlink(missing_ok=True)


def export_onnx(source: Path, target: Path) -> None:
    """Trace transformer + mean pooling + L2 norm to one ONNX file with dynamic batch/length."""
    import torch

    module = _pooled_module(source)
    sample = torch.tensor([[101, 7592, 2088, 102], [101, 7592, 102, 0]], dtype=torch.long)
    args = (sample, (sample > 0).long(), torch.zeros_like(sample))
    axes = {name: {0: "batch", 1: "sequence"} for name in INPUTS} | {OUTPUT: {0: "batch"}}
    with warnings.catch_warnings():
        # The TorchScript exporter (onnxscript is not installed) warns that it is legacy and
        # that traced shape checks become constants; the graph is verified by the tests.
        warnings.simplefilter("ignore")
        torch.onnx.export(
            module,
            args,
            str(target),
            dynamo=False,
            input_names=list(INPUTS),
            output_names=[OUTPUT],
            dynamic_axes=axes,
            opset_version=OPSET,
        )


def _pooled_module(source: Path) -> Any:
    """A torch module: token ids -> mean-pooled, L2-normalised sentence vectors."""
    import torch
    from transformers import AutoModel

    class Pooled(torch.nn.Module):
        def __init__(self, encoder: Any) -> None:
            super().__init__()
            self.encoder = encoder

        def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any) -> Any:
            hidden = self.encoder(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            ).last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
            mean = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            return torch.nn.functional.normalize(mean, p=2.0, dim=1)

    encoder = AutoModel.from_pretrained(
        str(source), local_files_only=True, attn_implementation="eager"
    )
    return Pooled(encoder).eval()


def quantize_onnx(fp32: Path, target: Path) -> None:
    """Dynamic int8 weights, per output channel (per-tensor lost ~10% cosine on some texts)."""
    from onnxruntime.quantization import QuantType, quantize_dynamic  # type: ignore[import-untyped]

    quantize_dynamic(str(fp32), str(target), weight_type=QuantType.QInt8, per_channel=True)


def _session(model_file: Path) -> Any:
    """A session whose runs each stay on the calling thread (callers run in parallel)."""
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    return onnxruntime.InferenceSession(
        str(model_file), options, providers=["CPUExecutionProvider"]
    )


def _max_length(source: Path) -> int:
    """sentence-transformers' `max_seq_length` of the model (256 for all-MiniLM-L6-v2)."""
    config = source / "sentence_bert_config.json"
    if not config.exists():
        return DEFAULT_MAX_LENGTH
    return int(json.loads(config.read_text(encoding="utf-8")).get("max_seq_length", 256))


def _tokenizer(source: Path, max_length: int) -> Tokenizer:
    """The model's own fast tokenizer: truncate to `max_length`, pad to the longest text."""
    tokenizer = Tokenizer.from_file(str(source / "tokenizer.json"))
    padding = tokenizer.padding or {}
    tokenizer.enable_truncation(max_length)
    tokenizer.enable_padding(
        pad_id=int(padding.get("pad_id", 0)), pad_token=str(padding.get("pad_token", "[PAD]"))
    )
    return tokenizer


def _dimension(session: Any, source: Path) -> int:
    size = session.get_outputs()[0].shape[-1]
    if isinstance(size, int):
        return size
    config = json.loads((source / "config.json").read_text(encoding="utf-8"))
    return int(config["hidden_size"])
