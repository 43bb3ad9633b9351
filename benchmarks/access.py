"""What access filtering costs a search: the same hybrid searches with and without it.

How it works
  One tenant of `--chunks` chunks (documents of 10) is loaded as `benchmarks/search.py`
  loads it, except that each document is restricted to one or two of `--groups` groups
  (`--public` percent of them stay tenant-wide). Two keys search it through a real
  `enclave serve`, one client, hybrid mode:
    admin      every document: no access condition anywhere (the search without filtering)
    reader     a reader bound to a user in `--member` of the groups: the access condition
               on every index stage and in the hit resolution, and the re-check of each hit
  They alternate in blocks of `--block` searches, so both see the same moments of this
  shared machine. Each key's queries are its own, drawn from the same distribution: the
  server caches query vectors, and a query the other key sent first would skip the encoder.
  Reported: p50 and p99 ms of each, their ratio,
  and how many results each search returned (the reader's must not be empty).

Target (issue #17): the reader's p50 within 10% of the admin's.

Run: `python benchmarks/access.py` (10k chunks, 20 groups, member of 3, 12 blocks of 50).
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
from dataclasses import replace

import httpx
from rich.console import Console
from rich.table import Table

from api.services import build_embedder
from api.settings import Settings
from benchmarks import search as bench
from benchmarks.harness import Server, percentile, query_text
from tenancy import keys
from tenancy.access import Identity
from tenancy.roles import Role
from tenancy.scope import Scope

console = Console(width=140)


class RestrictedLoader(bench.Loader):
    """The search benchmark's loader, with each document restricted to a group or two."""

    def __init__(self, *args: object, groups: int, public: float, seed: int) -> None:
        super().__init__(*args)  # type: ignore[arg-type]
        self.groups, self.public = groups, public
        self.choice = random.Random(seed)

    def tokens(self, document: int) -> tuple[str, ...]:
        """`*` for a share of documents, else one or two of the groups."""
        if self.choice.random() < self.public:
            return ("*",)
        picked = self.choice.sample(range(self.groups), self.choice.choice((1, 2)))
        return tuple(f"g:g{g}" for g in sorted(picked))


def reader_key(loader: bench.Loader, tenant: bench.BenchTenant, member: int) -> str:
    """A reader bound to a user in groups g0..g{member-1}."""
    identity = Identity("bench-user", tuple(f"g{g}" for g in range(member)))
    spec = keys.KeySpec(Role.READER, "bench member", identity=identity)
    with loader.sessions.begin() as session:
        return keys.issue(Scope(session, tenant.id), spec).key


def admin_key(loader: bench.Loader, tenant: bench.BenchTenant) -> str:
    """An admin key: it reads every document, so no access condition applies."""
    with loader.sessions.begin() as session:
        return keys.issue(Scope(session, tenant.id), keys.KeySpec(Role.ADMIN, "bench")).key


def timed(http: httpx.Client, key: str, queries: list[str]) -> tuple[list[float], list[int]]:
    """Seconds and result counts of one block of searches."""
    seconds, counts = [], []
    headers = {"Authorization": f"Bearer {key}"}
    for query in queries:
        body = {"query": query, "top_k": bench.TOP_K, "mode": "hybrid"}
        started = time.perf_counter()
        response = http.post("/v1/search", json=body, headers=headers)
        seconds.append(time.perf_counter() - started)
        response.raise_for_status()
        counts.append(len(response.json()["results"]))
    return seconds, counts


def main() -> None:
    """Load, serve, alternate the two keys, print the table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--chunks", type=int, default=10_000)
    parser.add_argument("--groups", type=int, default=20)
    parser.add_argument("--member", type=int, default=3)
    parser.add_argument("--public", type=float, default=0.1, help="share of tenant-wide docs")
    parser.add_argument("--blocks", type=int, default=12)
    parser.add_argument("--block", type=int, default=50)
    parser.add_argument("--seed", type=int, default=5)
    opts = parser.parse_args()
    base = replace(bench.parse_args([]), chunks=opts.chunks, seed=opts.seed)
    rng = random.Random(opts.seed)
    with tempfile.TemporaryDirectory(prefix="enclave-access-bench-") as tmp:
        data = Path(tmp) / "data"
        embedder = build_embedder(Settings(data_dir=data))
        loader = RestrictedLoader(
            data, embedder, base, groups=opts.groups, public=opts.public, seed=opts.seed
        )
        tenant = loader.tenant("access", opts.chunks)
        keys_ = {
            "admin": admin_key(loader, tenant),
            "reader": reader_key(loader, tenant, opts.member),
        }
        loader.close()
        results: dict[str, tuple[list[float], list[int]]] = {k: ([], []) for k in keys_}
        with Server(data) as server, httpx.Client(base_url=server.url, timeout=60) as http:
            timed(http, keys_["admin"], [query_text(rng) for _ in range(20)])  # warm up
            for block in range(opts.blocks):
                # Each key gets queries of its own: the server caches query vectors, so a
                # query the other key sent first would skip the encoder (stop 24 measured
                # 1.23-1.32 that way, the reader having gone first in 9 of 12 blocks).
                # The order alternates, so both see the same moments of the machine.
                order = ("admin", "reader") if block % 2 == 0 else ("reader", "admin")
                for who in order:
                    queries = [query_text(rng) for _ in range(opts.block)]
                    seconds, counts = timed(http, keys_[who], queries)
                    results[who][0].extend(seconds)
                    results[who][1].extend(counts)
    render(opts, results)


def render(opts: argparse.Namespace, results: dict[str, tuple[list[float], list[int]]]) -> None:
    """p50, p99 and result counts per key, and the reader/admin ratio."""
    title = (
        f"hybrid search, {opts.chunks:,} chunks, {opts.groups} groups, reader in {opts.member}"
        f" ({opts.blocks} x {opts.block} searches each, interleaved)"
    )
    table = Table(title=title)
    for column in ("key", "p50 ms", "p99 ms", "mean results"):
        table.add_column(column, justify="left" if column == "key" else "right")
    p50 = {}
    for who, (seconds, counts) in sorted(results.items()):
        ms = sorted(s * 1000 for s in seconds)
        p50[who] = percentile(ms, 50)
        table.add_row(
            who, f"{p50[who]:.2f}", f"{percentile(ms, 99):.2f}", f"{statistics.mean(counts):.1f}"
        )
    console.print(table)
    console.print(f"reader p50 / admin p50 = {p50['reader'] / p50['admin']:.3f} (target <= 1.10)")


if __name__ == "__main__":
    main()
