"""Does a Qdrant Edge query hold the GIL? What other Python threads get done meanwhile.

How it works
  One Edge shard of `--points` random points (384-d dense + BM25 sparse, one tenant), as
  Enclave's `EdgeIndex` writes them. A pure-Python loop counts its iterations for `--seconds`:
    alone           nothing else runs
    + Edge queries  another thread runs hybrid queries back to back (`EdgeIndex.query`)
    + sha256        another thread hashes 1 MB buffers back to back: native code that
                    releases the GIL, the control
  On a machine with 2 or more cores, native work that releases the GIL leaves the loop near
  its rate alone; work that holds it takes the loop's share. Reported: loop iterations/s,
  the share of the loop's rate alone, and the side thread's calls/s and ms per call.

Why: at 16 clients one `enclave serve` is bound by Python work that shares one GIL (issue
#22); a py-spy --gil profile of the search path put `EdgeIndex.query` at ~21% of the samples
that held the GIL. This isolates it from everything else, for an upstream report.

Run: `python benchmarks/edge_gil.py` (10k points, 5 s per cell).
"""

# ruff: noqa: E402
import sys
from pathlib import Path

sys.path[0] = str(Path(__file__).resolve().parent.parent)

import argparse
import hashlib
import os
import random
import statistics
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime

from rich.console import Console
from rich.table import Table

from retrieval.edge import EdgeIndex
from retrieval.points import IndexPoint, IndexQuery, PointPayload
from retrieval.sparse import encode_document, encode_query
from tenancy.ids import TenantId

DIMENSION = 384
WORDS = "leave policy travel expense audit shuttle canteen robot firmware badge desk shift"
WORDS_LIST = WORDS.split(" ")
TENANT = TenantId(uuid.UUID("00000000-0000-4000-8000-00000000e06e"))
console = Console()


def _unit(rng: random.Random) -> list[float]:
    vector = [rng.gauss(0, 1) for _ in range(DIMENSION)]
    norm = sum(x * x for x in vector) ** 0.5
    return [x / norm for x in vector]


def _text(rng: random.Random, words: int) -> str:
    return " ".join(rng.choice(WORDS_LIST) + str(rng.randrange(500)) for _ in range(words))


def _load(root: Path, points: int, rng: random.Random) -> EdgeIndex:
    index = EdgeIndex(root, dimension=DIMENSION, background_optimize=False)
    for start in range(0, points, 1000):
        batch = []
        for i in range(start, min(points, start + 1000)):
            document = uuid.uuid5(TENANT, f"doc-{i // 10}")
            payload = PointPayload(TENANT, document, 1, "text/plain", datetime.now(UTC))
            text = _text(rng, 40)
            batch.append(
                IndexPoint(uuid.uuid5(document, str(i)), _unit(rng), encode_document(text), payload)
            )
        index.upsert(TENANT, batch)
    return index


def _loop(seconds: float) -> float:
    """Pure-Python iterations per second."""
    count, deadline = 0, time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        for _ in range(1000):
            count += 1
    return count / seconds


def _side(call: Callable[[], object], stop: threading.Event, times: list[float]) -> None:
    while not stop.is_set():
        started = time.perf_counter()
        call()
        times.append(time.perf_counter() - started)


def _cell(seconds: float, call: Callable[[], object] | None) -> tuple[float, list[float]]:
    if call is None:
        return _loop(seconds), []
    stop, times = threading.Event(), []
    thread = threading.Thread(target=_side, args=(call, stop, times), daemon=True)
    thread.start()
    time.sleep(0.2)
    rate = _loop(seconds)
    stop.set()
    thread.join()
    return rate, times


def main() -> None:
    """Load a shard, run the three cells, print the table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--points", type=int, default=10_000)
    parser.add_argument("--seconds", type=float, default=5.0)
    args = parser.parse_args()
    rng = random.Random(7)
    with tempfile.TemporaryDirectory(prefix="enclave-edge-gil-") as tmp:
        console.print(f"loading {args.points:,} points… ({os.cpu_count()} cores)")
        index = _load(Path(tmp), args.points, rng)
        queries = [
            IndexQuery("hybrid", _unit(rng), encode_query(_text(rng, 3)), 10) for _ in range(50)
        ]
        cycle = iter(queries * 1_000_000)
        buffer = os.urandom(1 << 20)
        cells = {
            "alone": None,
            "+ Edge queries (hybrid)": lambda: index.query(TENANT, next(cycle)),
            "+ sha256 of 1 MB (control)": lambda: hashlib.sha256(buffer).digest(),
        }
        rows = [(name, *_cell(args.seconds, call)) for name, call in cells.items()]
        index.close()
    console.print(_table(rows))


def _table(rows: list[tuple[str, float, list[float]]]) -> Table:
    table = Table(title="A pure-Python thread's progress beside native work")
    for column in ("cell", "loop iterations/s", "share of alone", "side calls/s", "ms / side call"):
        table.add_column(column, justify="left" if column == "cell" else "right")
    alone = rows[0][1]
    for name, rate, times in rows:
        calls = f"{len(times) / sum(times):.0f}" if times else "—"
        per = f"{statistics.median(times) * 1000:.2f}" if times else "—"
        table.add_row(name, f"{rate:,.0f}", f"{rate / alone:.0%}", calls, per)
    return table


if __name__ == "__main__":
    main()
