"""Where a search's time goes: `enclave serve` with wall-clock timers around each stage.

How it works
  One tenant of `--chunks` chunks is loaded as `benchmarks/search.py` loads it (same
  `Loader`). The server is then this file run as a child (`--child PORT STATS`): it wraps
  the functions of the search request path with timers, then runs `enclave serve`
  unchanged; on SIGUSR2 it writes the count and total wall time of each stage to STATS.
  It is served twice, once driven by 1 client and once by `--clients` clients, each time
  with `--requests` distinct hybrid searches after 50 unmeasured ones (the child zeroes
  its totals on SIGUSR1 after them).

Stages (module attributes the request path calls, so wrapping them changes nothing else):
  key check         tenancy.keys.admit               (SQL, read-only transaction)
  tenant rate       api.transaction._rates           (the tenant's rate, read with the key
                    since stop 27: no SQL of its own)
  embed query       retrieval.search._index_query    (ONNX encoder + sparse encoding)
  index query       retrieval.search._query_index    (Edge shard, tenant-filtered)
  resolve hits      retrieval.search._resolve        (SQL, read-only transaction)
  writer queue      tenancy.sqlite.QueuedConnection.begin_write (wait for the one SQLite
                    writer, inside "audit event": the first write of the request)
  search record     retrieval.search.keep            (SQL insert)
  audit event       tenancy.audit.record             (SQL: chain head + insert)
  receipt payload   retrieval.receipts.payload       (the receipt's fields, from the record)
  receipt signature tenancy.signing.KeyRing.sign     (canonical JSON + Ed25519 JWS)
The client's p50 latency minus the stages' mean sum is HTTP, FastAPI, validation,
serialization, commits and thread hand-overs. The child also times each `POST /v1/search`
from uvicorn's start of its ASGI call to the end of it (the response written): the server's
share of that latency; the client and loopback take the rest.

Run: `python benchmarks/stages.py` (10k chunks, 600 requests, 1 and 16 clients).
"""

# ruff: noqa: E402
import sys
from pathlib import Path

sys.path[0] = str(Path(__file__).resolve().parent.parent)

import argparse
import functools
import gc
import importlib
import json
import signal
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import httpx
from rich.console import Console
from rich.table import Table

from api.services import build_embedder
from api.settings import Settings
from benchmarks import search as bench
from benchmarks.harness import Server, percentile

console = Console(width=150)

# (label, module, attribute): wrapped in this order; a class attribute is "Class.method".
STAGES = [
    ("key check", "tenancy.keys", "admit"),
    ("tenant rate", "api.transaction", "_rates"),
    ("embed query", "retrieval.search", "_index_query"),
    ("index query", "retrieval.search", "_query_index"),
    ("resolve hits", "retrieval.search", "_resolve"),
    ("writer queue", "tenancy.sqlite", "QueuedConnection.begin_write"),
    ("search record", "retrieval.search", "keep"),
    ("audit event", "tenancy.audit", "record"),
    ("receipt payload", "retrieval.receipts", "payload"),
    ("receipt signature", "tenancy.signing", "KeyRing.sign"),
]


# ---------------------------------------------------------------- child: the timed server


def child(port: int, stats_path: Path) -> None:
    """Wrap the stages, dump their totals at exit, run `enclave serve`."""
    totals: dict[str, list[float]] = {label: [0, 0.0] for label, _, _ in STAGES}
    totals["cpu"] = [0, time.process_time()]
    lock = threading.Lock()
    for label, module, attribute in STAGES:
        _wrap(label, module, attribute, totals, lock)
    served: list[float] = []
    _time_asgi(served)
    _time_gc(totals, lock)

    def reset(*_: object) -> None:
        _zero(totals)
        served.clear()

    signal.signal(signal.SIGUSR1, reset)
    signal.signal(
        signal.SIGUSR2,
        lambda *_: stats_path.write_text(json.dumps({**_dump(totals), "served": served})),
    )
    from api.cli.main import main

    sys.argv = ["enclave", "serve", "--host", "127.0.0.1", "--port", str(port)]
    main()


def _time_gc(totals: dict[str, list[float]], lock: threading.Lock) -> None:
    """Count the garbage collector's runs and their pauses (every thread waits for them)."""
    totals["gc"] = [0, 0.0]
    totals["gc full"] = [0, 0.0]
    started = [0.0]

    def timed(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            started[0] = time.perf_counter()
            return
        elapsed = time.perf_counter() - started[0]
        with lock:
            for label in ("gc", "gc full") if info["generation"] == 2 else ("gc",):
                totals[label][0] += 1
                totals[label][1] += elapsed

    gc.callbacks.append(timed)


def _zero(totals: dict[str, list[float]]) -> None:
    for pair in totals.values():
        pair[:] = [0, 0.0]
    totals["cpu"] = [0, time.process_time()]  # the whole server process: every thread


def _dump(totals: dict[str, list[float]]) -> dict[str, list[float]]:
    """The totals, with the server's CPU seconds since they were zeroed."""
    return {**totals, "cpu": [0, time.process_time() - totals["cpu"][1]]}


def _wrap(
    label: str, module: str, attribute: str, totals: dict[str, list[float]], lock: threading.Lock
) -> None:
    owner: Any = importlib.import_module(module)
    *path, name = attribute.split(".")
    for part in path:
        owner = getattr(owner, part)
    original: Callable[..., Any] = getattr(owner, name)

    @functools.wraps(original)
    def timed(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            elapsed = time.perf_counter() - started
            with lock:
                totals[label][0] += 1
                totals[label][1] += elapsed

    setattr(owner, name, timed)


def _time_asgi(served: list[float]) -> None:
    """Append each search's server time (uvicorn's ASGI call: request parsed → response
    written) to `served`."""
    from uvicorn.protocols.http import httptools_impl

    cycle: Any = httptools_impl.RequestResponseCycle
    original = cycle.run_asgi

    async def timed(self: Any, app: Any) -> None:
        started = time.perf_counter()
        try:
            await original(self, app)
        finally:
            if self.scope["path"] == "/v1/search":
                served.append(time.perf_counter() - started)

    cycle.run_asgi = timed


# ---------------------------------------------------------------- parent


def main() -> None:
    """Load, serve twice, print the stage table."""
    args = _parse()
    if args.child:
        child(int(args.child[0]), Path(args.child[1]))
        return
    opts = bench.Options(
        chunks=args.chunks, tenants=0, tenant_chunks=0, large=False, large_chunks=0, cold=0,
        requests=args.requests, clients=(1, args.clients), modes=("hybrid",), pool=192,
        floor_queries=0, seed=11, workdir=None,
    )  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="enclave-stages-") as tmp:
        data_dir = Path(tmp) / "data"
        embedder = build_embedder(Settings(data_dir=data_dir))
        loader = bench.Loader(
            data_dir, embedder, opts, database_url=args.database_url, analyze=not args.no_analyze
        )
        try:
            console.print(f"loading 1 tenant × {args.chunks:,} chunks…")
            tenant = loader.tenant("stages", args.chunks)
        finally:
            loader.close()
        env = dict(item.split("=", 1) for item in args.env)
        if args.database_url:
            env["ENCLAVE_DATABASE_URL"] = args.database_url
        rows = [_serve(data_dir, tenant, clients, opts, env) for clients in opts.clients]
    console.print(_table(rows))


def _serve(
    data_dir: Path, tenant: Any, clients: int, opts: Any, env: dict[str, str]
) -> tuple[int, Any, dict[str, Any]]:
    stats = data_dir.parent / f"stages-{clients}.json"
    command = [sys.executable, __file__, "--child", "{port}", str(stats)]
    with Server(data_dir, env, command=command) as server:
        console.print(f"  {clients} client(s)…")
        bench.run_cell(server.url, "warm", [tenant], "hybrid", clients, replace(opts, requests=50))
        server.process.send_signal(signal.SIGUSR1)  # the child zeroes its totals
        time.sleep(0.5)
        cell = bench.run_cell(server.url, "run", [tenant], "hybrid", clients, opts)
        server.process.send_signal(signal.SIGUSR2)  # the child writes its totals
        deadline = time.monotonic() + 30
        while not stats.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(0.2)
        totals = json.loads(stats.read_text())
        totals["healthz"] = _healthz_rate(server.url, clients, opts.requests)
    return clients, cell, totals


def _healthz_rate(url: str, clients: int, requests: int) -> float:
    """GET /healthz per second with `clients` clients, on the same server: the framework's
    ceiling, to compare a search with."""
    per_client = max(1, requests // clients)

    def one() -> None:
        with httpx.Client(base_url=url, timeout=30) as http:
            for _ in range(per_client):
                http.get("/healthz").raise_for_status()

    threads = [threading.Thread(target=one) for _ in range(clients)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return per_client * clients / (time.perf_counter() - started)


def _table(rows: list[tuple[int, Any, dict[str, Any]]]) -> Table:
    table = Table(title="Where a hybrid search's time goes (server-side wall time per search)")
    table.add_column("stage")
    for clients, cell, _ in rows:
        errors = sum(cell.errors.values())
        table.add_column(f"{clients} client(s): ms / search", justify="right")
        table.add_column(f"share ({len(cell.latencies)} ok, {errors} errors)", justify="right")
    searches = [max(1, totals["search record"][0]) for _, _, totals in rows]
    p50s = [percentile(cell.latencies, 50) * 1000 for _, cell, _ in rows]
    sums = [0.0 for _ in rows]
    for label, _, _ in STAGES:
        cells = []
        for i, (_, _, totals) in enumerate(rows):
            per = totals[label][1] * 1000 / searches[i]
            if label != "writer queue":  # it is part of "audit event"
                sums[i] += per
            cells += [f"{per:.2f}", f"{per / p50s[i]:.0%}"]
        table.add_row(label, *cells)
    rest = [p - s for p, s in zip(p50s, sums, strict=True)]
    table.add_row("rest: HTTP, framework, commits, hand-overs", *_pairs(rest, p50s))
    table.add_row("client p50 latency", *_pairs(p50s, p50s))
    served = [percentile(totals["served"], 50) * 1000 for _, _, totals in rows]
    table.add_row("  of which the server (ASGI call, p50)", *_pairs(served, p50s))
    table.add_row(
        "  of which the client and loopback",
        *_pairs([p - s for p, s in zip(p50s, served, strict=True)], p50s),
    )
    p99s = [percentile(cell.latencies, 99) * 1000 for _, cell, _ in rows]
    table.add_row("client p99 latency", *_pairs(p99s, p50s))
    served99 = [percentile(totals["served"], 99) * 1000 for _, _, totals in rows]
    table.add_row("  server p99 (ASGI call)", *_pairs(served99, p50s))
    rates = [len(cell.latencies) / cell.wall_s for _, cell, _ in rows]
    table.add_row("throughput, searches/s", *[x for r in rates for x in (f"{r:.1f}", "")])
    floors = [
        (totals["embed query"][1] + totals["index query"][1]) * 1000 / searches[i]
        for i, (_, _, totals) in enumerate(rows)
    ]
    table.add_row("p50 / floor (embed + index query)", *[
        x for p, f in zip(p50s, floors, strict=True) for x in (f"{p / f:.2f}", "")
    ])  # fmt: skip
    table.add_row("server p50 / floor", *[
        x for p, f in zip(served, floors, strict=True) for x in (f"{p / f:.2f}", "")
    ])  # fmt: skip
    cpu = [totals["cpu"][1] * 1000 / searches[i] for i, (_, _, totals) in enumerate(rows)]
    table.add_row(
        "server CPU ms / search (all threads)", *[x for c in cpu for x in (f"{c:.2f}", "")]
    )
    for label, what in (("gc", "GC pauses"), ("gc full", "of which full (generation 2)")):
        table.add_row(f"{what}: ms / search, count", *[
            x for i, (_, _, totals) in enumerate(rows)
            for x in (f"{totals[label][1] * 1000 / searches[i]:.3f}", f"{totals[label][0]:.0f}")
        ])  # fmt: skip
    health = [totals["healthz"] for _, _, totals in rows]
    table.add_row("/healthz, requests/s", *[x for h in health for x in (f"{h:.0f}", "")])
    table.add_row("searches / healthz", *[
        x for r, h in zip(rates, health, strict=True) for x in (f"{r / h:.3f}", "")
    ])  # fmt: skip
    return table


def _pairs(values: list[float], p50s: list[float]) -> list[str]:
    return [x for v, p in zip(values, p50s, strict=True) for x in (f"{v:.2f}", f"{v / p:.0%}")]


def _parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--chunks", type=int, default=10_000, help="chunks of the one tenant")
    parser.add_argument("--requests", type=int, default=600, help="measured searches per run")
    parser.add_argument("--clients", type=int, default=16, help="concurrent clients, 2nd run")
    parser.add_argument(
        "--env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a setting of the server, e.g. ENCLAVE_GROUP_COMMIT=off (repeatable)",
    )
    parser.add_argument(
        "--database-url",
        help="metadata database (an empty PostgreSQL schema, e.g. postgresql+psycopg://"
        "postgres@127.0.0.1:5432/test?options=-csearch_path%%3Dbench); default: SQLite",
    )
    parser.add_argument(
        "--no-analyze",
        action="store_true",
        help="PostgreSQL: leave the loaded tables without statistics (as before autovacuum "
        "has analyzed a fresh load, or with autovacuum off)",
    )
    parser.add_argument("--child", nargs=2, metavar=("PORT", "STATS"), help=argparse.SUPPRESS)
    return parser.parse_args()


if __name__ == "__main__":
    main()
