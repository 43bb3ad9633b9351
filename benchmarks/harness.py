"""Helpers shared by the benchmarks: a real `enclave serve` child, RSS sampling, text, stats."""

import itertools
import math
import os
import random
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Self

import httpx
import psutil

ENCLAVE = Path(sys.executable).parent / "enclave"
KEY_LINE = re.compile(r"operator key \(shown once, store it now\): (\S+)")
OFFLINE_ENV = {"HF_HUB_OFFLINE": "1", "DO_NOT_TRACK": "1", "UNSTRUCTURED_DISABLE_NOTICE": "1"}
# The service rate-limits per key (20/s, burst 40) and per tenant (50/s, burst 100) by
# default; a benchmark measures capacity, so it lifts them (429s would count as errors).
NO_RATE_LIMITS = {
    "ENCLAVE_KEY_RATE_PER_SECOND": "10000",
    "ENCLAVE_KEY_RATE_BURST": "100000",
    "ENCLAVE_TENANT_RATE_PER_SECOND": "10000",
    "ENCLAVE_TENANT_RATE_BURST": "100000",
}


def _words(text: str) -> list[str]:
    return text.split()


TOPICS: dict[str, list[str]] = {
    "hr": _words(
        "leave parental vacation payroll benefits onboarding employee manager review "
        "salary pension insurance contract probation overtime holiday remote hybrid"
    ),
    "security": _words(
        "password encryption firewall audit incident breach token certificate "
        "vulnerability patch access credential phishing malware backup recovery"
    ),
    "finance": _words(
        "budget invoice revenue forecast expense ledger quarter profit margin "
        "audit tax depreciation accrual cashflow procurement vendor"
    ),
    "robotics": _words(
        "actuator servo gripper sensor lidar calibration firmware torque "
        "trajectory controller payload arm joint encoder battery"
    ),
    "logistics": _words(
        "shipment warehouse pallet carrier freight customs inventory route "
        "delivery tracking dispatch container forklift dock manifest"
    ),
    "legal": _words(
        "clause liability indemnity warranty jurisdiction arbitration license "
        "compliance regulation privacy consent retention breach notice"
    ),
    "product": _words(
        "roadmap release feature customer feedback milestone prototype launch "
        "pricing market segment backlog sprint metric dashboard"
    ),
    "facilities": _words(
        "office parking badge kitchen elevator heating cleaning maintenance "
        "lighting desk meeting room visitor reception safety"
    ),
}
COMMON = _words(
    "the team should must will can each every policy process request approval document "
    "report system quarterly annual weekly new current standard required within after "
    "before during following section note please contact details update review"
)
CODE_PREFIXES = ("ACME", "GLX", "REF", "POL", "INV", "TCK")


def free_port() -> int:
    """A TCP port free on loopback now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def child_env(data_dir: Path, extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of a server child: ours minus ENCLAVE_*, plus the data dir."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ENCLAVE_")}
    env.update(OFFLINE_ENV)
    env.update(NO_RATE_LIMITS)
    env["ENCLAVE_DATA_DIR"] = str(data_dir)
    env.update(extra or {})
    return env


@dataclass(frozen=True)
class ProcMemory:
    """One process's memory from /proc/PID/status (kernel counters: cheap to read), bytes."""

    rss: int
    anon: int
    file: int
    hwm: int

    @classmethod
    def read(cls, pid: int) -> "ProcMemory | None":
        """The process's counters, or None once it is gone."""
        try:
            text = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            return None
        kib = {k: int(v.split()[0]) * 1024 for k, v in _STATUS.findall(text)}
        return cls(
            kib.get("VmRSS", 0), kib.get("RssAnon", 0), kib.get("RssFile", 0), kib.get("VmHWM", 0)
        )


_STATUS = re.compile(r"^(VmRSS|RssAnon|RssFile|VmHWM):\s+(\d+ kB)", re.MULTILINE)


@dataclass
class TreeSample:
    """The server process and its children (parser pool, HNSW build) at one instant."""

    server: ProcMemory
    children: dict[str, ProcMemory] = field(default_factory=dict)

    @property
    def rss(self) -> int:
        """RSS summed over the tree; pages shared by processes (libraries) count once each."""
        return self.server.rss + sum(c.rss for c in self.children.values())

    @property
    def children_rss(self) -> int:
        """RSS summed over the children only."""
        return sum(c.rss for c in self.children.values())


def pss(pid: int) -> int:
    """Proportional set size in bytes (shared pages split between their users); 0 if gone.

    Reading smaps_rollup walks the page tables: tens of ms for a large process, so it is
    sampled less often than RSS."""
    try:
        text = Path(f"/proc/{pid}/smaps_rollup").read_text()
    except OSError:
        return 0
    match = re.search(r"^Pss:\s+(\d+) kB", text, re.MULTILINE)
    return int(match.group(1)) * 1024 if match else 0


class RssSampler:
    """Samples the memory of a process and all its children; keeps the peak and its breakdown.

    RSS (from /proc/PID/status) every `interval` s. RSS counts file pages a process maps
    (shard files Edge mmaps, shared libraries) as well as anonymous memory; the anon/file
    split is kept per process. The tree sum double-counts libraries mapped by both the
    server and a child, so PSS summed over the tree (each shared page split between its
    users) is sampled too, every `pss_every` samples.
    """

    def __init__(self, pid: int, interval: float = 0.25, pss_every: int = 8) -> None:
        self._pid, self._interval, self._pss_every = pid, interval, pss_every
        self.peak = 0
        self.last = 0
        self.at_peak: TreeSample | None = None
        self.children_peak = 0
        self.pss_peak = 0
        self.server_hwm = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def sample(self) -> TreeSample | None:
        """The tree now (None once the server is gone)."""
        server = ProcMemory.read(self._pid)
        if server is None:
            return None
        tree = TreeSample(server)
        for child in self._children():
            memory = ProcMemory.read(child.pid)
            if memory is not None:
                tree.children[_label(child)] = memory
        return tree

    def _children(self) -> list[psutil.Process]:
        try:
            return list(psutil.Process(self._pid).children(recursive=True))
        except psutil.Error:
            return []

    def _tree_pss(self) -> int:
        return pss(self._pid) + sum(pss(child.pid) for child in self._children())

    def _run(self) -> None:
        for count in itertools.count():
            if self._stop.is_set():
                return
            tree = self.sample()
            if tree is not None:
                self._record(tree, count)
            self._stop.wait(self._interval)

    def _record(self, tree: TreeSample, count: int) -> None:
        self.last = tree.rss
        self.server_hwm = max(self.server_hwm, tree.server.hwm)
        if tree.rss > self.peak:
            self.peak, self.at_peak = tree.rss, tree
        self.children_peak = max(self.children_peak, tree.children_rss)
        if count % self._pss_every == 0:
            self.pss_peak = max(self.pss_peak, self._tree_pss())

    def stop(self) -> None:
        """Stop sampling."""
        self._stop.set()
        self._thread.join()

    def describe(self) -> str:
        """The peak and what it was made of, as one line of text."""
        at = self.at_peak
        if at is None:
            return "no sample"
        kids = ", ".join(f"{name} {mib(m.rss)}" for name, m in sorted(at.children.items()))
        return (
            f"peak RSS {mib(self.peak)} = server {mib(at.server.rss)} "
            f"(anon {mib(at.server.anon)}, file-backed {mib(at.server.file)}) "
            f"+ children {mib(at.children_rss)} ({kids or 'none'}); "
            f"peak PSS of the tree {mib(self.pss_peak)}; server VmHWM {mib(self.server_hwm)}"
        )


def _label(process: psutil.Process) -> str:
    """A short name for a server child, from its command line."""
    try:
        line = " ".join(process.cmdline())
    except psutil.Error:
        return f"pid {process.pid}"
    for needle, name in (
        ("resource_tracker", "mp-tracker"),
        ("spawn_main", "parser"),
        ("optimize()", "hnsw-build"),
    ):
        if needle in line:
            return f"{name} {process.pid}"
    return f"pid {process.pid}"


class Server:
    """`enclave serve` on a free port with ENCLAVE_DATA_DIR=`data_dir`; output in a log file."""

    COMMAND = (str(ENCLAVE), "serve", "--host", "127.0.0.1", "--port", "{port}")

    def __init__(
        self,
        data_dir: Path,
        extra_env: dict[str, str] | None = None,
        command: list[str] | None = None,
    ) -> None:
        """`command` replaces `enclave serve`; "{port}" in it is replaced by the port."""
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        data_dir.mkdir(parents=True, exist_ok=True)
        self.log = data_dir.parent / f"serve-{self.port}.log"
        command = [part.format(port=self.port) for part in command or self.COMMAND]
        started = time.perf_counter()
        with self.log.open("wb") as out:
            self.process = subprocess.Popen(
                command, stdout=out, stderr=subprocess.STDOUT, env=child_env(data_dir, extra_env)
            )
        self.rss = RssSampler(self.process.pid)
        self._wait_ready()
        self.startup_s = time.perf_counter() - started

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited:\n{self.output()[-3000:]}")
            try:
                if httpx.get(f"{self.url}/readyz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        raise RuntimeError(f"server did not become ready:\n{self.output()[-3000:]}")

    def output(self) -> str:
        """Everything the server printed so far."""
        return self.log.read_text(errors="replace")

    def operator_key(self) -> str:
        """The operator key printed on first start."""
        match = KEY_LINE.search(self.output())
        if match is None:
            raise RuntimeError("no operator key in the server output")
        return match.group(1)

    def stop(self) -> None:
        """SIGTERM, wait, stop sampling."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=120)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.rss.stop()


def sentence(rng: random.Random, topic: str) -> str:
    """One synthetic sentence, mostly topic words with common glue and sometimes a code."""
    words = [
        rng.choice(TOPICS[topic]) if rng.random() < 0.55 else rng.choice(COMMON)
        for _ in range(rng.randint(8, 18))
    ]
    if rng.random() < 0.15:
        words.insert(
            rng.randrange(len(words)), f"{rng.choice(CODE_PREFIXES)}-{rng.randint(1000, 9999)}"
        )
    return " ".join(words).capitalize() + "."


def paragraph(rng: random.Random, topic: str, words: int) -> str:
    """Sentences until about `words` words."""
    out: list[str] = []
    count = 0
    while count < words:
        text = sentence(rng, topic)
        out.append(text)
        count += text.count(" ") + 1
    return " ".join(out)


def query_text(rng: random.Random) -> str:
    """A short query from one topic; combinations make repeats (cache hits) very unlikely."""
    topic = rng.choice(list(TOPICS))
    words = rng.sample(TOPICS[topic], 3) + rng.sample(COMMON, 2)
    rng.shuffle(words)
    return " ".join(words)


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100); NaN for no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, min(len(ordered), math.ceil(q / 100 * len(ordered))))
    return ordered[rank - 1]


def mib(value: int) -> str:
    """Bytes as MiB text."""
    return f"{value / 2**20:,.0f} MiB"
