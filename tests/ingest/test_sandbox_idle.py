"""The parser pool starts on the first file when lazy, and stops after an idle spell."""

import os
import time
from pathlib import Path

import pytest

from ingest.parse import Element
from ingest.sandbox import ProcessParser
from tests.ingest.sandbox_targets import hang


def _children() -> int:
    """Parser children of this process (the multiprocessing resource tracker excluded)."""
    count = 0
    for proc in Path("/proc").iterdir():
        try:
            ppid = int((proc / "stat").read_text().rsplit(")", 1)[1].split()[1])
            cmdline = (proc / "cmdline").read_bytes()
        except (OSError, ValueError, IndexError):
            continue
        count += ppid == os.getpid() and b"spawn_main" in cmdline
    return count


def test_a_lazy_pool_starts_no_child_until_the_first_file() -> None:
    before = _children()
    parser = ProcessParser(timeout_s=30, target=hang, warm=False, lazy=True)
    try:
        assert not parser.running
        assert _children() == before
        assert parser(b"first file", "text/plain", "a.txt")[0].text == "first file"
        assert parser.running
        assert _children() == before + 1
    finally:
        parser.close()


def test_an_idle_pool_stops_its_children_and_the_next_file_starts_new_ones() -> None:
    parser = ProcessParser(timeout_s=30, target=hang, warm=False, lazy=True, idle_s=0.5)
    try:
        assert parser(b"one", "text/plain", "a.txt")
        deadline = time.monotonic() + 10
        while parser.running and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not parser.running
        assert parser(b"two", "text/plain", "b.txt")[0].text == "two"
    finally:
        parser.close()


def slow(data: bytes, media_type: str, filename: str) -> list[Element]:
    """Takes longer than the idle limit of the test below (a child imports it by name)."""
    time.sleep(1.5)
    return [Element(data.decode(), "NarrativeText", None, filename, None)]


def test_a_pool_is_not_stopped_while_a_file_is_parsing() -> None:
    parser = ProcessParser(timeout_s=30, target=slow, warm=False, lazy=True, idle_s=0.2)
    try:
        assert parser(b"long file", "text/plain", "a.txt")[0].text == "long file"
    finally:
        parser.close()


def test_a_closed_parser_refuses_files() -> None:
    parser = ProcessParser(timeout_s=30, target=hang, warm=False, lazy=True)
    parser.close()
    with pytest.raises(RuntimeError, match="closed"):
        parser(b"late", "text/plain", "a.txt")
