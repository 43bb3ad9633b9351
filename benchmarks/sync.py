"""How long `enclave sync` takes when little or nothing changed.

How it works
  A real `enclave serve` (embedded default) gets one tenant and an admin key. A folder of
  `--files` short text files (seeded prose, a few hundred bytes each) is synced once, fully
  indexed (not timed). Then the benchmark times, as a user would run them, whole
  `enclave sync DIR --source bench --json` commands (process start included):
    no change     the same folder again, `--rounds` times
    1% changed    `--changed` percent of the files rewritten before each round
  and reports the median and max seconds of each, and how the time splits between the
  server (the run's start, uploads, commit, indexing) and the rest.

Target (issue #16): a no-change sync of 2,000 files under 3 s on this machine.

Run: `python benchmarks/sync.py` (2,000 files, 3 rounds each, 1% changed).
"""

# ruff: noqa: E402
import sys
from pathlib import Path

sys.path[0] = str(Path(__file__).resolve().parent.parent)

import argparse
import json
import random
import statistics
import subprocess
import tempfile
import time
from dataclasses import dataclass

import httpx
from rich.console import Console
from rich.table import Table

from benchmarks.harness import ENCLAVE, TOPICS, Server, child_env, paragraph

console = Console(width=140)


@dataclass(frozen=True)
class Timed:
    """One timed `enclave sync`."""

    seconds: float
    counts: dict[str, int]


def make_folder(root: Path, files: int, rng: random.Random) -> list[Path]:
    """`files` text files in folders of 100."""
    topics = list(TOPICS)
    made = []
    for i in range(files):
        path = root / f"folder-{i // 100:03d}" / f"note-{i:05d}.txt"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(paragraph(rng, topics[i % len(topics)], 40) + f" Note {i}.\n")
        made.append(path)
    return made


def admin_key(server: Server) -> str:
    """A tenant and its admin key, made with the operator key."""
    op = {"Authorization": f"Bearer {server.operator_key()}"}
    with httpx.Client(base_url=server.url, timeout=60) as http:
        tenant = http.post("/v1/tenants", json={"name": "bench"}, headers=op).json()
        body = {"role": "admin", "name": "bench"}
        key: str = http.post(f"/v1/tenants/{tenant['id']}/keys", json=body, headers=op).json()[
            "key"
        ]
    return key


def sync(folder: Path, server: Server, key: str, data_dir: Path) -> Timed:
    """One `enclave sync ... --json`, timed as a whole process."""
    command = [str(ENCLAVE), "sync", str(folder), "--source", "bench", "--url", server.url]
    started = time.perf_counter()
    done = subprocess.run(
        [*command, "--key", key, "--json"],
        capture_output=True,
        text=True,
        env=child_env(data_dir),
        timeout=3600,
        check=False,
    )
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"enclave sync exited {done.returncode}:\n{done.stderr[-3000:]}")
    return Timed(seconds, json.loads(done.stdout)["counts"])


def cli_start(data_dir: Path) -> float:
    """The time `enclave --help` takes: the part of each run that is process start."""
    started = time.perf_counter()
    subprocess.run(
        [str(ENCLAVE), "--help"], capture_output=True, env=child_env(data_dir), check=True
    )
    return time.perf_counter() - started


def main() -> None:
    """Parse options, load, time, print the table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=2000)
    parser.add_argument("--changed", type=float, default=1.0, help="percent rewritten per round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seed", type=int, default=11)
    opts = parser.parse_args()
    rng = random.Random(opts.seed)
    with tempfile.TemporaryDirectory(prefix="enclave-sync-bench-") as tmp:
        root = Path(tmp)
        folder = root / "folder"
        files = make_folder(folder, opts.files, rng)
        data_dir = root / "data"
        with Server(data_dir) as server:
            key = admin_key(server)
            first = sync(folder, server, key, data_dir)
            console.print(f"first sync: {opts.files} files in {first.seconds:.1f} s {first.counts}")
            still = [sync(folder, server, key, data_dir) for _ in range(opts.rounds)]
            edited = []
            for _ in range(opts.rounds):
                for path in rng.sample(files, max(1, round(opts.files * opts.changed / 100))):
                    path.write_text(path.read_text() + f" Edited {rng.random():.6f}.\n")
                edited.append(sync(folder, server, key, data_dir))
            startup = cli_start(data_dir)
    render(opts, still, edited, startup)


def render(
    opts: argparse.Namespace, still: list[Timed], edited: list[Timed], startup: float
) -> None:
    """The table: median and max seconds per scenario."""
    table = Table(title=f"enclave sync, {opts.files} files ({opts.rounds} rounds each)")
    for column in ("scenario", "median s", "max s", "unchanged", "updated", "indexed"):
        table.add_column(column, justify="left" if column == "scenario" else "right")
    for name, runs in (("no change", still), (f"{opts.changed:g}% changed", edited)):
        seconds = [r.seconds for r in runs]
        last = runs[-1].counts
        table.add_row(
            name,
            f"{statistics.median(seconds):.2f}",
            f"{max(seconds):.2f}",
            str(last.get("unchanged", 0)),
            str(last.get("update", 0)),
            str(last.get("indexed", 0)),
        )
    console.print(table)
    console.print(f"`enclave --help` alone (process start and imports): {startup:.2f} s")


if __name__ == "__main__":
    main()
