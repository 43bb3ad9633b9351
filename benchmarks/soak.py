"""Soak: two tenants upload, sync, delete and search for minutes while the server is killed.

How it works
  A real `enclave serve` (embedded default) gets two tenants, A and B, with an admin key
  each. One thread per tenant loops over a weighted mix of operations:
    search   a random topic query, or a marker of one of its own documents (live or deleted)
    upload   1-3 new documents
    delete   one of its uploaded documents
    sync     `enclave sync` of the tenant's folder after adding, editing or removing a file
  Every document's text starts with a marker naming its tenant and number (`soakax00042`), so
  every hit can be traced. A third thread kills the server with SIGKILL every ~`--kill-every`
  seconds and starts it again at once. Requests cut off by a kill count as `unavailable`; a
  write cut off that way is "uncertain" and may have happened or not.

  At the end (no more kills): uncertain deletes are retried and each folder is synced once
  more (what a user would do), the queue is waited out, and then:
    - every acknowledged upload is `ready` or `failed`, never lost or stuck;
    - every acknowledged delete, and every file that left a folder or was edited, answers
      404 and its marker finds nothing;
    - no search ever returned the other tenant's marker, or a marker whose delete had been
      acknowledged before the search began;
    - no response was a 500, and `enclave audit verify` proves every chain (tenants' and
      the system's) against the signed checkpoints.

Run: `python benchmarks/soak.py` (10 minutes, a kill every ~60 s); `--minutes 2` for a
quick look. Exit 1 when any check fails.
"""

# ruff: noqa: E402
import sys
from pathlib import Path

sys.path[0] = str(Path(__file__).resolve().parent.parent)

import argparse
import collections
import random
import re
import signal
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass, field

import httpx
from rich.console import Console
from rich.table import Table

from benchmarks.harness import ENCLAVE, TOPICS, Server, child_env, paragraph, query_text

console = Console(width=140)
OPERATOR_KEY = "ek_soak-operator-key-00000000000000000000000000"
ENV = {"ENCLAVE_OPERATOR_KEY": OPERATOR_KEY, "ENCLAVE_ERASURE_RESUME_AFTER_S": "2"}
MARKER = re.compile(r"soak([ab])x(\d{5})")
WEIGHTS = {"search": 60, "upload": 18, "delete": 10, "sync": 12}


class Live:
    """The running server; replaced after each kill."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.lock = threading.Lock()
        self.server = Server(data_dir, ENV)
        self.kills = 0

    @property
    def url(self) -> str:
        return self.server.url

    def kill_and_restart(self) -> None:
        with self.lock:
            self.server.process.send_signal(signal.SIGKILL)
            self.server.process.wait(60)
            self.server.rss.stop()
            self.kills += 1
            self.server = Server(self.data_dir, ENV)

    def five_hundreds(self) -> int:
        return sum(log.read_text(errors="replace").count('HTTP/1.1" 500') for log in self.logs())

    def logs(self) -> list[Path]:
        return sorted(self.data_dir.parent.glob("serve-*.log"))


@dataclass
class Ledger:
    """What one tenant was told, and what it therefore expects."""

    letter: str
    key: str
    folder: Path
    rng: random.Random
    next_number: int = 0
    live: dict[str, str] = field(default_factory=dict)  # marker -> document id (uploads)
    uncertain_uploads: set[str] = field(default_factory=set)
    deleted: dict[str, tuple[str, float]] = field(default_factory=dict)  # -> (id, when acked)
    uncertain_deletes: dict[str, str] = field(default_factory=dict)
    files: dict[str, str] = field(default_factory=dict)  # folder path -> its marker now
    left: dict[str, float] = field(default_factory=dict)  # marker -> when its sync committed
    pending_left: set[str] = field(default_factory=set)  # left the folder, not synced yet
    sync_cut_off: str = ""  # why the last sync failed; the next one reruns it unchanged
    replaced: set[str] = field(default_factory=set)  # old versions: gone once the new is ready
    pending_replaced: set[str] = field(default_factory=set)
    counts: collections.Counter[str] = field(default_factory=collections.Counter)
    violations: list[str] = field(default_factory=list)

    def marker(self) -> str:
        self.next_number += 1
        return f"soak{self.letter}x{self.next_number:05d}"

    def text(self, marker: str) -> str:
        topic = self.rng.choice(list(TOPICS))
        return f"Marker {marker}. " + paragraph(self.rng, topic, 70) + f" End of {marker}."


def _admin(http: httpx.Client, name: str) -> str:
    op = {"Authorization": f"Bearer {OPERATOR_KEY}"}
    tenant = http.post("/v1/tenants", json={"name": name}, headers=op).json()
    body = {"role": "admin", "name": "soak"}
    issued = http.post(f"/v1/tenants/{tenant['id']}/keys", json=body, headers=op).json()
    key: str = issued["key"]
    return key


def _request(
    live: Live,
    ledger: Ledger,
    kind: str,
    method: str,
    path: str,
    *,
    json: object = None,
    files: list[tuple[str, tuple[str, bytes, str]]] | None = None,
) -> httpx.Response | None:
    """One call; None when the server was not there (killed); 5xx counted by status."""
    try:
        with httpx.Client(base_url=live.url, timeout=60) as http:
            headers = {"Authorization": f"Bearer {ledger.key}"}
            response = http.request(method, path, headers=headers, json=json, files=files)
    except httpx.TransportError:
        ledger.counts[f"{kind} unavailable"] += 1
        time.sleep(0.2)  # restarting: do not spin
        return None
    if response.status_code >= 500:
        ledger.counts[f"{kind} {response.status_code}"] += 1
        if response.status_code == 500:
            ledger.violations.append(f"500 on {method} {path}: {response.text[:200]}")
    return response


# -- operations ---------------------------------------------------------------------------


def search(live: Live, ledger: Ledger, query: str | None = None) -> None:
    if query is None:
        known = [*ledger.live, *ledger.deleted, *ledger.files.values()]
        use_marker = known and ledger.rng.random() < 0.4
        query = ledger.rng.choice(known) if use_marker else query_text(ledger.rng)
    began = time.monotonic()
    body = {"query": query, "top_k": 10}
    response = _request(live, ledger, "search", "POST", "/v1/search", json=body)
    if response is None or response.status_code != 200:
        return
    ledger.counts["search ok"] += 1
    for hit in response.json()["results"]:
        ledger.counts["hits checked"] += 1
        _check_hit(ledger, hit["text"], began)


def _check_hit(ledger: Ledger, text: str, began: float) -> None:
    for letter, number in MARKER.findall(text):
        marker = f"soak{letter}x{number}"
        if letter != ledger.letter:
            ledger.violations.append(f"tenant {ledger.letter} saw {marker}")
        gone_at = ledger.deleted.get(marker, (None, None))[1] or ledger.left.get(marker)
        if gone_at is not None and gone_at < began:
            ledger.violations.append(f"deleted {marker} returned to a later search")


def upload(live: Live, ledger: Ledger) -> None:
    markers = [ledger.marker() for _ in range(ledger.rng.randint(1, 3))]
    files = [("files", (f"{m}.txt", ledger.text(m).encode(), "text/plain")) for m in markers]
    response = _request(live, ledger, "upload", "POST", "/v1/documents", files=files)
    if response is None or response.status_code >= 500:
        ledger.uncertain_uploads.update(markers)
        return
    if response.status_code != 202:
        ledger.violations.append(f"upload answered {response.status_code}: {response.text[:200]}")
        return
    ledger.counts["upload ok"] += 1
    for marker, doc in zip(markers, response.json()["documents"], strict=True):
        ledger.live[marker] = doc["id"]


def delete(live: Live, ledger: Ledger) -> None:
    if not ledger.live:
        return
    marker = ledger.rng.choice(sorted(ledger.live))
    doc_id = ledger.live.pop(marker)
    response = _request(live, ledger, "delete", "DELETE", f"/v1/documents/{doc_id}")
    if response is not None and response.status_code == 200:
        ledger.counts["delete ok"] += 1
        ledger.deleted[marker] = (doc_id, time.monotonic())
    elif response is not None and response.status_code == 404:
        ledger.violations.append(f"acknowledged upload {marker} was lost before its delete")
    else:
        ledger.uncertain_deletes[marker] = doc_id


def sync(live: Live, ledger: Ledger, *, change: bool = True) -> bool:
    if change and not ledger.sync_cut_off:  # as a user would: rerun a cut-off sync as it was
        _change_folder(ledger)
    command = [str(ENCLAVE), "sync", str(ledger.folder), "--source", "docs", "--url", live.url]
    done = subprocess.run(
        [*command, "--key", ledger.key, "--json"],
        capture_output=True,
        text=True,
        env=child_env(live.data_dir),
        timeout=600,
        check=False,
    )
    if done.returncode != 0:
        ledger.counts[f"sync exit {done.returncode}"] += 1
        ledger.sync_cut_off = done.stderr.strip()[-300:] or f"exit {done.returncode}"
        return False
    ledger.sync_cut_off = ""
    ledger.counts["sync ok"] += 1
    now = time.monotonic()
    ledger.left.update(dict.fromkeys(ledger.pending_left, now))
    ledger.replaced.update(ledger.pending_replaced)
    ledger.pending_left.clear()
    ledger.pending_replaced.clear()
    return True


def _change_folder(ledger: Ledger) -> None:
    choice = ledger.rng.random()
    if len(ledger.files) < 5 or choice < 0.5:
        path = f"notes/{ledger.next_number:05d}.txt"
    else:
        path = ledger.rng.choice(sorted(ledger.files))
        old = ledger.files.pop(path)
        if choice < 0.75:  # removed
            ledger.pending_left.add(old)
            (ledger.folder / path).unlink()
            return
        ledger.pending_replaced.add(old)  # edited
    marker = ledger.marker()
    (ledger.folder / path).parent.mkdir(parents=True, exist_ok=True)
    (ledger.folder / path).write_text(ledger.text(marker))
    ledger.files[path] = marker


OPERATIONS = {"search": search, "upload": upload, "delete": delete, "sync": sync}


def tenant_loop(live: Live, ledger: Ledger, until: float) -> None:
    names, weights = list(WEIGHTS), list(WEIGHTS.values())
    while time.monotonic() < until:
        name = ledger.rng.choices(names, weights)[0]
        OPERATIONS[name](live, ledger)  # type: ignore[operator]


def killer(live: Live, every_s: float, until: float, rng: random.Random) -> None:
    while (wake := time.monotonic() + rng.uniform(0.6, 1.4) * every_s) < until:
        time.sleep(wake - time.monotonic())
        live.kill_and_restart()


# -- the end ------------------------------------------------------------------------------


def settle(live: Live, ledger: Ledger) -> None:
    """What a user would do after a bad day: retry the deletes and syncs that were cut off."""
    for marker, doc_id in list(ledger.uncertain_deletes.items()):
        response = _request(live, ledger, "delete", "DELETE", f"/v1/documents/{doc_id}")
        if response is not None and response.status_code in (200, 404):
            ledger.deleted[marker] = (doc_id, time.monotonic())
            del ledger.uncertain_deletes[marker]
    if not sync(live, ledger, change=False):
        ledger.violations.append(f"the final sync failed: {ledger.sync_cut_off}")
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        busy = 0
        for status in ("queued", "processing"):
            response = _request(live, ledger, "final", "GET", f"/v1/documents?status={status}")
            busy += len(response.json()["documents"]) if response is not None else 1
        if not busy:
            return
        time.sleep(1)
    ledger.violations.append("documents still queued after 10 minutes")


def check(live: Live, ledger: Ledger) -> None:
    """Every outcome as requested."""
    for marker, doc_id in ledger.live.items():
        response = _request(live, ledger, "final", "GET", f"/v1/documents/{doc_id}")
        status = response.json().get("status") if response is not None else "unreachable"
        if response is None or response.status_code != 200 or status not in ("ready", "failed"):
            ledger.violations.append(f"acknowledged upload {marker} ended {status}")
        else:
            ledger.counts[f"end: upload {status}"] += 1
    for marker, (doc_id, _) in ledger.deleted.items():
        response = _request(live, ledger, "final", "GET", f"/v1/documents/{doc_id}")
        if response is None or response.status_code != 404:
            ledger.violations.append(f"deleted {marker} still answers")
        else:
            ledger.counts["end: deleted, 404"] += 1
    ledger.left.update(dict.fromkeys(ledger.replaced, time.monotonic()))  # the queue is empty
    time.sleep(0.01)
    for marker in [*ledger.deleted, *ledger.left]:
        search(live, ledger, marker)  # a hit with the marker is a violation
    ledger.counts["end: gone markers searched"] += len(ledger.deleted) + len(ledger.left)
    for marker in ledger.uncertain_uploads:
        response = _request(live, ledger, "final", "POST", "/v1/search", json={"query": marker})
        found = response is not None and marker in response.text
        ledger.counts[f"end: uncertain upload {'present' if found else 'absent'}"] += 1
    ledger.counts["end: uncertain deletes left"] += len(ledger.uncertain_deletes)


def verify_chains(data_dir: Path) -> tuple[bool, str]:
    done = subprocess.run(
        [str(ENCLAVE), "audit", "verify"],
        capture_output=True,
        text=True,
        env=child_env(data_dir, ENV),
        timeout=600,
        check=False,
    )
    return done.returncode == 0, done.stdout.strip()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--kill-every", type=float, default=60.0, help="seconds, ±40%%")
    parser.add_argument("--seed", type=int, default=7)
    opts = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="enclave-soak-") as tmp:
        root = Path(tmp)
        live = Live(root / "data")
        with httpx.Client(base_url=live.url, timeout=60) as http:
            ledgers = [
                Ledger(
                    letter,
                    _admin(http, f"soak-{letter}"),
                    root / letter,
                    random.Random(opts.seed + i),
                )
                for i, letter in enumerate("ab")
            ]
        for ledger in ledgers:
            ledger.folder.mkdir()
        began = time.monotonic()
        until = began + opts.minutes * 60
        threads = [threading.Thread(target=tenant_loop, args=(live, led, until)) for led in ledgers]
        threads.append(
            threading.Thread(
                target=killer, args=(live, opts.kill_every, until, random.Random(opts.seed))
            )
        )
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        for ledger in ledgers:
            settle(live, ledger)
            check(live, ledger)
        live.server.stop()
        chains_ok, chains = verify_chains(live.data_dir)
        render(opts, live, ledgers, time.monotonic() - began, chains_ok, chains)
        failed = not chains_ok or any(led.violations for led in ledgers)
    raise SystemExit(1 if failed else 0)


def render(
    opts: argparse.Namespace,
    live: Live,
    ledgers: list[Ledger],
    seconds: float,
    chains_ok: bool,
    chains: str,
) -> None:
    table = Table(title=f"Soak: {opts.minutes:g} min, kill -9 every ~{opts.kill_every:g} s")
    table.add_column("count")
    for ledger in ledgers:
        table.add_column(f"tenant {ledger.letter}", justify="right")
    names = sorted({name for led in ledgers for name in led.counts})
    for name in names:
        table.add_row(name, *(str(led.counts[name]) for led in ledgers))
    table.add_row("violations", *(str(len(led.violations)) for led in ledgers))
    console.print(table)
    console.print(
        f"server kills: {live.kills}; wall time {seconds:.0f} s; 500s in server logs: "
        f"{live.five_hundreds()}"
    )
    console.print(f"audit chains {'verified' if chains_ok else 'BROKEN'}:\n{chains}")
    for ledger in ledgers:
        for violation in ledger.violations[:20]:
            console.print(f"[red]tenant {ledger.letter}: {violation}")


if __name__ == "__main__":
    main()
