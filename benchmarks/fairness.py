"""Fair indexing: how long a small tenant's one-line document waits behind a big upload.

How it works
  A real `enclave serve` (embedded default, one worker) gets two tenants. Tenant "big"
  uploads `--files` text documents of `--kb` kB each in one request; a second later tenant
  "small" uploads a one-line document. The benchmark polls both jobs and reports when the
  small document was ready and when the big upload finished, `--rounds` times (fresh data
  each round).

  Workers claim documents round-robin across tenants within a byte budget per batch, so the
  small document should be ready within a batch or two of the big upload's, not after it.

Target (issue #18): the small tenant's document ready within seconds while the big batch
runs (before: it stayed queued ~90 s behind 30 x 1 MB documents).

Run: `python benchmarks/fairness.py` (30 files of 1 MB, 1 round).
"""

# ruff: noqa: E402
import sys
from pathlib import Path

sys.path[0] = str(Path(__file__).resolve().parent.parent)

import argparse
import random
import statistics
import tempfile
import time

import httpx
from rich.console import Console
from rich.table import Table

from benchmarks.harness import TOPICS, Server, paragraph

console = Console(width=120)
OPERATOR_KEY = "ek_fairness-operator-key-000000000000000000000"


def _admin(http: httpx.Client, name: str) -> dict[str, str]:
    op = {"Authorization": f"Bearer {OPERATOR_KEY}"}
    tenant = http.post("/v1/tenants", json={"name": name}, headers=op).json()
    body = {"role": "admin", "name": name}
    key = http.post(f"/v1/tenants/{tenant['id']}/keys", json=body, headers=op).json()["key"]
    return {"Authorization": f"Bearer {key}"}


def _text(rng: random.Random, kb: int) -> bytes:
    parts: list[str] = []
    size = 0
    while size < kb * 1024:
        part = paragraph(rng, rng.choice(list(TOPICS)), 120)
        parts.append(part)
        size += len(part) + 2
    return "\n\n".join(parts).encode()


def _done(http: httpx.Client, job_id: str, auth: dict[str, str]) -> bool:
    progress = http.get(f"/v1/jobs/{job_id}", headers=auth).json()["progress"]
    return bool(progress["done"] + progress["failed"] >= progress["total"])


def one_round(opts: argparse.Namespace, rng: random.Random) -> tuple[float, float, float]:
    """(small ready after, big finished after, small's share of the big's time), seconds."""
    with tempfile.TemporaryDirectory(prefix="enclave-fair-") as tmp:
        server = Server(Path(tmp) / "data", {"ENCLAVE_OPERATOR_KEY": OPERATOR_KEY})
        try:
            with httpx.Client(base_url=server.url, timeout=120) as http:
                big, small = _admin(http, "big"), _admin(http, "small")
                files = [
                    ("files", (f"big-{i}.txt", _text(rng, opts.kb))) for i in range(opts.files)
                ]
                began = time.perf_counter()
                big_job = http.post("/v1/documents", files=files, headers=big).json()["job_id"]
                time.sleep(1)
                line = [("files", ("small.txt", b"The small tenant's one-line note."))]
                small_began = time.perf_counter()
                small_job = http.post("/v1/documents", files=line, headers=small).json()["job_id"]
                small_s = big_s = 0.0
                while not (small_s and big_s):
                    if not small_s and _done(http, small_job, small):
                        small_s = time.perf_counter() - small_began
                    if not big_s and _done(http, big_job, big):
                        big_s = time.perf_counter() - began
                    time.sleep(0.1)
        finally:
            server.stop()
    return small_s, big_s, small_s / big_s


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=30)
    parser.add_argument("--kb", type=int, default=1024)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--seed", type=int, default=3)
    opts = parser.parse_args()
    rng = random.Random(opts.seed)
    results = [one_round(opts, rng) for _ in range(opts.rounds)]
    table = Table(
        title=f"Fairness: {opts.files} x {opts.kb} kB from one tenant, 1 line from another"
    )
    for name in ("small ready after (s)", "big upload done after (s)", "small / big"):
        table.add_column(name, justify="right")
    for small_s, big_s, share in results:
        table.add_row(f"{small_s:.1f}", f"{big_s:.1f}", f"{share:.2f}")
    if len(results) > 1:
        table.add_row(*(f"median {statistics.median(c):.2f}" for c in zip(*results, strict=True)))
    console.print(table)


if __name__ == "__main__":
    main()
