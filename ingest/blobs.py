"""Content-addressed storage of original files, one directory per tenant."""

import hashlib
import os
import shutil
import tempfile
import uuid
from pathlib import Path

from retrieval import documents
from retrieval.models import Document
from tenancy.errors import NotFound
from tenancy.ids import TenantId
from tenancy.scope import Scope


class BlobStore:
    """`root/<tenant>/<sha[:2]>/<sha>`; writes are atomic (temp file + rename)."""

    def __init__(self, root: Path) -> None:
        self._root = root
        root.mkdir(parents=True, exist_ok=True)

    def path(self, tenant_id: TenantId, sha256: str) -> Path:
        """Where a blob lives (the sha is ours, never user text)."""
        if len(sha256) != 64 or not all(c in "0123456789abcdef" for c in sha256):
            raise ValueError("not a sha256 hex digest")
        return self._root / tenant_id.hex / sha256[:2] / sha256

    def put(self, tenant_id: TenantId, data: bytes) -> str:
        """Store `data`; returns its SHA-256. Storing the same bytes twice is a no-op."""
        digest = hashlib.sha256(data).hexdigest()
        target = self.path(tenant_id, digest)
        if target.exists():
            return digest
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, target)
        except BaseException:  # a full disk mid-write: no partial file is left taking space
            Path(tmp).unlink(missing_ok=True)
            raise
        return digest

    def get(self, tenant_id: TenantId, sha256: str) -> bytes:
        """The stored bytes."""
        return self.path(tenant_id, sha256).read_bytes()

    def delete(self, tenant_id: TenantId, sha256: str) -> int:
        """Remove one blob; returns 1 if it existed."""
        target = self.path(tenant_id, sha256)
        if not target.exists():
            return 0
        target.unlink()
        return 1

    def delete_tenant(self, tenant_id: TenantId) -> int:
        """Remove every blob of the tenant; returns how many there were."""
        folder = self._root / tenant_id.hex
        if not folder.exists():
            return 0
        count = sum(1 for p in folder.rglob("*") if p.is_file())
        shutil.rmtree(folder)
        return count


def original(scope: Scope, blobs: BlobStore, document_id: uuid.UUID) -> tuple[Document, bytes]:
    """A document of the scope's tenant and its original bytes, as uploaded."""
    document = documents.get(scope, document_id)
    try:
        return document, blobs.get(scope.tenant_id, document.sha256)
    except FileNotFoundError:  # its erasure is under way, or was interrupted: gone
        raise NotFound("document") from None
