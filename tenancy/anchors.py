"""Audit checkpoints kept outside the database: signed, chained, appended, never rewritten.

Every so often the service signs the head of each audit chain (tenant, sequence number, hash,
time) and appends it as one JSON line to `<folder>/<tenant>.jsonl` (`system.jsonl` for the
system chain). Each line also names the hash of the line before it, so a line taken out of
the middle shows. Point the folder at append-only (WORM) storage and a chain edited,
re-hashed, cut short or wiped inside the database can no longer pass `audit verify`.
"""

import fcntl
import hashlib
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO

import jwt

from tenancy.signing import KeyRing, canonical

GENESIS = "0" * 64
SYSTEM = "system"


@dataclass(frozen=True)
class Checkpoint:
    """One anchored head of a chain, as a line of its file says it."""

    chain: str
    seq: int
    hash: str
    at: str
    prev: str
    jws: str

    def body(self) -> dict[str, Any]:
        """The signed fields."""
        return {
            "chain": self.chain,
            "seq": self.seq,
            "hash": self.hash,
            "at": self.at,
            "prev": self.prev,
        }

    def line_hash(self) -> str:
        """What the next line names as its `prev`."""
        return hashlib.sha256(self.jws.encode()).hexdigest()


def chain_name(tenant_id: object | None) -> str:
    """A chain's file name: the tenant's id, or `system`."""
    return SYSTEM if tenant_id is None else str(tenant_id)


class AnchorLog:
    """The append-only checkpoint files of every chain in one folder."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)

    def append(self, ring: KeyRing, chain: str, seq: int, head_hash: str) -> Checkpoint:
        """Sign and append the checkpoint of `chain` at `seq` (whoever else appends waits)."""
        with self._locked(chain) as handle:
            last = _last_line(handle)
            prev = _parse(last).line_hash() if last else GENESIS
            at = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
            body = {"chain": chain, "seq": seq, "hash": head_hash, "at": at, "prev": prev}
            checkpoint = Checkpoint(**body, jws=ring.sign(body))  # type: ignore[arg-type]
            line = json.dumps({**body, "jws": checkpoint.jws}, sort_keys=True) + "\n"
            handle.write(line.encode())
            handle.flush()
            os.fsync(handle.fileno())
        return checkpoint

    def read(self, chain: str) -> list[Checkpoint]:
        """Every checkpoint of `chain`, oldest first."""
        path = self._path(chain)
        if not path.exists():
            return []
        return [_parse(line) for line in path.read_text().splitlines() if line.strip()]

    def last_seq(self, chain: str) -> int:
        """The sequence number of the newest checkpoint of `chain` (0: none yet)."""
        if not self._path(chain).exists():
            return 0
        with self._locked(chain) as handle:
            last = _last_line(handle)
        return _parse(last).seq if last else 0

    def _path(self, chain: str) -> Path:
        if "/" in chain or chain.startswith("."):
            raise ValueError(f"not a chain name: {chain!r}")
        return self.folder / f"{chain}.jsonl"

    @contextmanager
    def _locked(self, chain: str) -> Iterator[BinaryIO]:
        with self._path(chain).open("a+b") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield handle
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)


# A checkpoint line is ~400 bytes: the last one is found reading this much from the end.
_TAIL_BYTES = 4096


def _last_line(handle: BinaryIO) -> str | None:
    """The file's last non-empty line, read from its end (a chain's file grows by a line every
    hundred events: reading it whole on each append grew with it)."""
    end = handle.seek(0, os.SEEK_END)
    start = end
    while start > 0:
        start = max(0, start - _TAIL_BYTES)
        handle.seek(start)
        tail = handle.read(end - start)
        lines = [line for line in tail.splitlines() if line.strip()]
        if len(lines) > 1 or (lines and start == 0):
            return lines[-1].decode()
    return None


def _parse(line: str) -> Checkpoint:
    data = json.loads(line)
    return Checkpoint(
        chain=str(data["chain"]),
        seq=int(data["seq"]),
        hash=str(data["hash"]),
        at=str(data["at"]),
        prev=str(data["prev"]),
        jws=str(data["jws"]),
    )


def signed_by(checkpoint: Checkpoint, jwks: dict[str, Any]) -> bool:
    """Whether the checkpoint's signature is good, by a key of `jwks`, over its own fields."""
    try:
        kid = jwt.get_unverified_header(checkpoint.jws).get("kid")
        keys = [jwt.PyJWK(k) for k in jwks["keys"] if k.get("kid") == kid]
        if len(keys) != 1:
            return False
        signed = jwt.api_jws.decode(checkpoint.jws, keys[0].key, algorithms=["EdDSA"])
    except (jwt.PyJWTError, ValueError, KeyError):
        return False
    return bool(signed == canonical(checkpoint.body()))
