"""The checkpoint files: each line links to the one before it, read from the file's end."""

import itertools
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from tenancy import anchors
from tenancy.signing import KeyRing

RING = KeyRing(Ed25519PrivateKey.generate())


def test_each_checkpoint_names_the_line_before_it_and_the_last_seq_is_read_back(
    tmp_path: Path,
) -> None:
    log = anchors.AnchorLog(tmp_path)
    assert log.last_seq("system") == 0
    for seq in range(1, 40):  # more than one tail window of lines
        log.append(RING, "system", seq, f"{seq:064x}")
    written = log.read("system")
    assert [c.seq for c in written] == list(range(1, 40))
    assert written[0].prev == anchors.GENESIS
    assert all(b.prev == a.line_hash() for a, b in itertools.pairwise(written))
    assert anchors.AnchorLog(tmp_path).last_seq("system") == 39


def test_lines_longer_than_the_tail_window_are_still_read_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(anchors, "_TAIL_BYTES", 100)  # a checkpoint line is ~400 bytes
    log = anchors.AnchorLog(tmp_path)
    for seq in (1, 2, 3):
        log.append(RING, "system", seq, f"{seq:064x}")
    again = log.read("system")
    assert [c.seq for c in again] == [1, 2, 3]
    assert again[2].prev == again[1].line_hash()
    assert again[1].prev == again[0].line_hash()
    assert log.last_seq("system") == 3
