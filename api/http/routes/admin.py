"""Operator routes for running the service: backups of the embedded stores."""

from dataclasses import asdict

from fastapi import APIRouter

from api.http.deps import OperatorCtx, ServicesDep
from api.ops import backup
from api.schemas import BackupCounts, BackupIn, BackupOut

router = APIRouter(prefix="/v1/admin", tags=["admin"])


@router.post("/backups", status_code=201, name="admin.backup")
def create_backup(body: BackupIn, ctx: OperatorCtx, services: ServicesDep) -> BackupOut:
    """Snapshot database, index and original files into a new folder on the server.

    Nothing of the tenants' content comes back in the answer: only what was written, and
    where. Index writes pause while the copy is made; searches go on."""
    receipt = backup.create(services, body.path)
    counts = asdict(receipt.counts)
    ctx.record(path=str(receipt.path), revision=receipt.revision, seconds=receipt.seconds, **counts)
    return BackupOut(
        path=str(receipt.path),
        created_at=receipt.created_at,
        revision=receipt.revision,
        counts=BackupCounts(**counts),
        seconds=receipt.seconds,
    )
