"""Document routes: upload, list, show, text, content, delete."""

import json
import uuid
from dataclasses import asdict
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, File, Form, Query, UploadFile
from fastapi.responses import PlainTextResponse, Response
from pydantic import ValidationError

from api import calls
from api.http.deps import AdminCtx, IndexWrites, ReaderCtx, ServicesDep
from api.schemas import MAX_INT, Receipt, UploadMetadata
from api.settings import Settings
from enclave_client.models import DocumentList, DocumentOut, UploadedDocument, UploadOut
from ingest import blobs, erasure, upload
from ingest.archive import ArchiveLimits, safe_path
from ingest.errors import InvalidUpload, PayloadTooLarge
from retrieval import documents
from retrieval.models import DocumentStatus
from tenancy.limits import Quota

router = APIRouter(prefix="/v1/documents", tags=["documents"])

StatusQuery = Annotated[DocumentStatus | None, Query()]


@router.post("", status_code=202, name="document.upload")
def upload_documents(
    ctx: AdminCtx,
    services: ServicesDep,
    files: Annotated[list[UploadFile], File(description="One or more documents.")],
    metadata: Annotated[
        str | None, Form(description='JSON: {"tags": [...], "external_id": "..."}')
    ] = None,
) -> UploadOut:
    """Upload documents; they are indexed in the background (poll the job)."""
    settings = services.settings
    if len(files) > settings.max_files_per_upload:
        raise InvalidUpload(f"at most {settings.max_files_per_upload} files per upload")
    options = _options(settings, _metadata(metadata), services.quota)
    incoming = [_read(f, settings.max_upload_bytes) for f in files]
    queued = upload.receive(ctx.scope, services.blobs, incoming, options)
    ctx.record([str(d.id) for _, d in queued.items], job_id=str(queued.job.id))
    if services.settings.workers == "embedded":
        services.worker.wake()
    docs = [
        UploadedDocument(id=d.id, filename=d.filename, status=d.status, duplicate=i.duplicate)
        for i, d in queued.items
    ]
    return UploadOut(job_id=queued.job.id, documents=docs)


def _options(settings: Settings, meta: UploadMetadata, quota: Quota) -> upload.UploadOptions:
    return upload.UploadOptions(
        quota=quota,
        tags=tuple(meta.tags),
        external_id=meta.external_id,
        max_file_bytes=settings.max_upload_bytes,
        max_queue_depth=settings.max_queue_depth,
        archive_limits=ArchiveLimits(
            max_members=settings.max_archive_members,
            max_member_bytes=settings.max_upload_bytes,
            max_total_bytes=int(settings.max_archive_mb * 1024 * 1024),
        ),
    )


def _metadata(raw: str | None) -> UploadMetadata:
    if not raw:
        return UploadMetadata()
    try:
        return UploadMetadata.model_validate(json.loads(raw))
    except (json.JSONDecodeError, ValidationError) as exc:
        raise InvalidUpload(
            f'metadata must be JSON like {{"tags": [], "external_id": null}}: {exc}'
        ) from exc


def _read(file: UploadFile, limit: int) -> upload.IncomingFile:
    data = file.file.read(limit + 1)
    name = (file.filename or "").replace("\\", "/").strip("/")
    if len(data) > limit:
        raise PayloadTooLarge(f"{name!r} exceeds the {limit / (1024 * 1024):g} MB limit")
    # A name with folders (from `enclave ingest DIR`) keeps them as the document's path.
    path = safe_path(name, "the upload") if "/" in name else None
    return upload.IncomingFile(filename=name.rsplit("/", 1)[-1], data=data, path=path)


@router.get("", name="document.list")
def list_documents(
    ctx: ReaderCtx,
    status: StatusQuery = None,
    tag: Annotated[str | None, Query(max_length=128)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0, le=MAX_INT)] = 0,
) -> DocumentList:
    """The tenant's documents, newest first; filter by status or tag."""
    query = documents.DocumentQuery(status=status, tag=tag, limit=limit, offset=offset)
    return calls.list_documents(ctx, query)


@router.get("/{document_id}", name="document.read")
def get_document(document_id: uuid.UUID, ctx: ReaderCtx) -> DocumentOut:
    """One document's metadata and status."""
    row = documents.get(ctx.scope, document_id)
    ctx.record([str(document_id)])
    return DocumentOut.model_validate(row)


@router.get("/{document_id}/text", response_class=PlainTextResponse, name="document.text")
def get_document_text(document_id: uuid.UUID, ctx: ReaderCtx) -> PlainTextResponse:
    """The canonical extracted text that citation offsets index into."""
    text = documents.get_text(ctx.scope, document_id)
    ctx.record([str(document_id)])
    return PlainTextResponse(text)


@router.get("/{document_id}/content", name="document.content")
def get_document_content(document_id: uuid.UUID, ctx: ReaderCtx, services: ServicesDep) -> Response:
    """The original bytes, as uploaded."""
    row, data = blobs.original(ctx.scope, services.blobs, document_id)
    ctx.record([str(document_id)])
    disposition = f"attachment; filename*=UTF-8''{_quote(row.filename)}"
    return Response(data, media_type=row.media_type, headers={"Content-Disposition": disposition})


def _quote(name: str) -> str:
    return quote(name, safe="")


@router.delete("/{document_id}", name="document.delete", dependencies=[IndexWrites])
def delete_document(document_id: uuid.UUID, ctx: AdminCtx, services: ServicesDep) -> Receipt:
    """Erase a document: rows, chunks, vectors and the stored file; returns a receipt."""
    receipt = erasure.delete_document(ctx.scope, services.index, services.blobs, document_id)
    ctx.record([str(document_id)], **asdict(receipt))
    return Receipt(**asdict(receipt))
