"""Document routes: upload, list, show, text, content, delete."""

import json
import uuid
from dataclasses import asdict, replace
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, File, Form, Query, UploadFile
from fastapi.responses import PlainTextResponse, Response
from pydantic import ValidationError

from api import calls
from api.http.deps import AdminCtx, IndexWrites, ReaderCtx, ServicesDep
from api.http.files import read_upload, upload_options
from api.schemas import MAX_INT, DocumentPatch, UploadMetadata, domain_access
from enclave_client.models import DocumentList, DocumentOut, Receipt, UploadedDocument, UploadOut
from ingest import blobs, erasure, permissions, upload
from ingest.errors import InvalidUpload
from ingest.manifest import normal_path
from retrieval import documents
from retrieval.models import DocumentStatus

router = APIRouter(prefix="/v1/documents", tags=["documents"])

StatusQuery = Annotated[DocumentStatus | None, Query()]


@router.post("", status_code=202, name="document.upload")
def upload_documents(
    ctx: AdminCtx,
    services: ServicesDep,
    files: Annotated[list[UploadFile], File(description="One or more documents.")],
    metadata: Annotated[
        str | None,
        Form(
            description='JSON: {"tags": [...], "external_id": "..." (one file), "files": '
            '[{"path": "...", "external_id": "..."}, ...] (one per file, in order), "access": '
            '{"users": [...], "groups": [...]} (omit: everyone in the tenant)}',
            examples=['{"tags": ["hr"], "access": {"groups": ["hr"]}}'],
        ),
    ] = None,
) -> UploadOut:
    """Upload documents; they are indexed in the background (follow the job: `GET
    /v1/jobs/{job_id}?wait=30` or its `/events`)."""
    settings = services.settings
    if len(files) > settings.max_files_per_upload:
        raise InvalidUpload(f"at most {settings.max_files_per_upload} files per upload")
    meta = _metadata(metadata)
    options = replace(
        upload_options(services),
        tags=tuple(meta.tags),
        external_id=meta.external_id,
        access=domain_access(meta.access),
        access_set="access" in meta.model_fields_set,
    )
    incoming = _per_file(meta, [read_upload(f, settings.max_upload_bytes) for f in files])
    queued = upload.receive(ctx.scope, services.blobs, incoming, options)
    ctx.record([str(d.id) for _, d in queued.items], job_id=str(queued.job.id))
    if services.settings.workers == "embedded":
        services.worker.wake()
    docs = [
        UploadedDocument(id=d.id, filename=d.filename, status=d.status, duplicate=i.duplicate)
        for i, d in queued.items
    ]
    return UploadOut(job_id=queued.job.id, documents=docs)


def _metadata(raw: str | None) -> UploadMetadata:
    if not raw:
        return UploadMetadata()
    try:
        return UploadMetadata.model_validate(json.loads(raw))
    except (json.JSONDecodeError, ValidationError) as exc:
        raise InvalidUpload(
            f'metadata must be JSON like {{"tags": [], "external_id": null}}: {exc}'
        ) from exc


def _per_file(
    meta: UploadMetadata, incoming: list[upload.IncomingFile]
) -> list[upload.IncomingFile]:
    """Each file with its own path and external id from `metadata.files`, in upload order."""
    if meta.files is None:
        return incoming
    if len(meta.files) != len(incoming):
        raise InvalidUpload(
            f"metadata.files names {len(meta.files)} files; the upload has {len(incoming)}"
        )
    return [
        replace(
            file,
            path=normal_path(extra.path) if extra.path else file.path,
            external_id=extra.external_id,
        )
        for file, extra in zip(incoming, meta.files, strict=True)
    ]


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


@router.patch("/{document_id}", name="document.access", dependencies=[IndexWrites])
def set_document_access(
    document_id: uuid.UUID, body: DocumentPatch, ctx: AdminCtx, services: ServicesDep
) -> DocumentOut:
    """Change who may read a document (every version of it): the index's payload changes
    before this answers, so the next search obeys it."""
    given = domain_access(body.access)
    row = permissions.set_document_access(ctx.scope, services.index, document_id, given)
    ctx.record([str(document_id)], access=body.access.model_dump() if body.access else None)
    return DocumentOut.model_validate(row)


@router.get("/{document_id}/text", response_class=PlainTextResponse, name="document.text")
def get_document_text(document_id: uuid.UUID, ctx: ReaderCtx) -> PlainTextResponse:
    """The canonical extracted text that citation offsets index into."""
    text = documents.get_text(ctx.scope, document_id)
    ctx.record([str(document_id)])
    return PlainTextResponse(text)


@router.get(
    "/{document_id}/content",
    name="document.content",
    response_class=Response,
    responses={
        200: {
            "description": "The bytes, with the media type detected at upload.",
            "content": {
                "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}
            },
        }
    },
)
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
    receipt = erasure.delete_document(
        ctx.scope, services.index, services.blobs, document_id, intent=ctx.intent
    )
    ctx.record([str(document_id)], **asdict(receipt))
    return Receipt(**asdict(receipt))
