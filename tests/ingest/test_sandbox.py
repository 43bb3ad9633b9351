"""Parsing in child processes: a hung or ballooning file fails alone; the pool recovers."""

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from ingest.errors import ParseError
from ingest.sandbox import ProcessParser
from tests.factories import FIXTURES
from tests.ingest.sandbox_targets import balloon, hang


@pytest.fixture
def hanging() -> Iterator[ProcessParser]:
    parser = ProcessParser(timeout_s=2, target=hang, warm=False)
    yield parser
    parser.close()


@pytest.fixture
def ballooning() -> Iterator[ProcessParser]:
    parser = ProcessParser(timeout_s=30, memory_mb=1024, target=balloon, warm=False)
    yield parser
    parser.close()


def test_a_child_parses_a_real_document() -> None:
    parser = ProcessParser(timeout_s=60, warm=False)
    try:
        data = (FIXTURES / "acme" / "policy.txt").read_bytes()
        elements = parser(data, "text/plain", "policy.txt")
    finally:
        parser.close()
    assert elements
    assert any("ACME" in e.text for e in elements)


def test_a_hung_parse_times_out_and_the_next_file_still_parses(hanging: ProcessParser) -> None:
    with pytest.raises(ParseError, match="longer than 2 s"):
        hanging(b"HANG forever", "text/plain", "stuck.txt")
    assert hanging(b"Plain words after the hang.", "text/plain", "next.txt")


def test_a_ballooning_parse_hits_the_memory_cap_and_the_next_file_still_parses(
    ballooning: ProcessParser,
) -> None:
    with pytest.raises(ParseError, match="memory limit"):
        ballooning(b"BALLOON", "text/plain", "huge.txt")
    assert ballooning(b"Plain words after the balloon.", "text/plain", "next.txt")


def test_parse_errors_cross_the_process_boundary_intact() -> None:
    parser = ProcessParser(timeout_s=30, warm=False)
    try:
        with pytest.raises(ParseError, match="encrypted"):
            parser((FIXTURES / "bad" / "encrypted.pdf").read_bytes(), "application/pdf", "enc.pdf")
    finally:
        parser.close()


def test_children_exit_when_their_parent_is_killed(tmp_path: Path) -> None:
    script = (
        "import os, sys, time\n"
        "from ingest.sandbox import ProcessParser\n"
        "parser = ProcessParser(timeout_s=30, warm=False)\n"
        "print(*[p.pid for p in parser._pool._processes.values()], flush=True)\n"
        "time.sleep(60)\n"
    )
    with subprocess.Popen(
        [sys.executable, "-c", script], stdout=subprocess.PIPE, text=True
    ) as parent:
        assert parent.stdout is not None
        children = [int(pid) for pid in parent.stdout.readline().split()]
        parent.kill()
    assert children
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(_alive(pid) for pid in children):
        time.sleep(0.2)
    assert not any(_alive(pid) for pid in children)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
