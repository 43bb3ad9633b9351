"""Accepting an upload: validate every file first, then store blobs and queue one job."""

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from ingest import archive, backpressure, detect, quota, space
from ingest.blobs import BlobStore
from ingest.errors import InvalidUpload, PayloadTooLarge, UnsupportedMediaType
from ingest.models import Job, JobItem
from retrieval import documents
from retrieval.models import Document
from tenancy import tenants
from tenancy.access import Access
from tenancy.limits import Quota
from tenancy.scope import Scope

MAX_FILENAME = 255


@dataclass(frozen=True)
class IncomingFile:
    """A file as received."""

    filename: str
    data: bytes
    path: str | None = None
    in_archive: bool = False
    external_id: str | None = None


@dataclass(frozen=True)
class UploadOptions:
    """Upload-wide metadata and limits."""

    tags: tuple[str, ...] = ()
    external_id: str | None = None
    # Who may read the new documents; when not set, a new version keeps the previous one's.
    access: Access | None = None
    access_set: bool = False
    max_file_bytes: int = 50 * 1024 * 1024
    archive_limits: archive.ArchiveLimits = field(default_factory=archive.ArchiveLimits)
    quota: Quota = field(default_factory=Quota)
    max_queue_depth: int | None = None
    disk: space.Disk = field(default_factory=space.unlimited)


@dataclass(frozen=True)
class Accepted:
    """A validated file: type known, hash computed."""

    file: IncomingFile
    media_type: str
    sha256: str


@dataclass(frozen=True)
class Queued:
    """The job created for an upload and its items in upload order."""

    job: Job
    items: list[tuple[JobItem, Document]]


def accept(files: Sequence[IncomingFile], options: UploadOptions) -> list[Accepted]:
    """Validate all files before anything is stored (a bad file rejects the upload whole).

    A `.zip` stands for its members: each becomes a document with its path kept.
    """
    if not files:
        raise InvalidUpload("the upload contains no files")
    accepted = [a for f in files for a in _accept_one(f, options)]
    if options.external_id is not None and len(accepted) != 1:
        raise InvalidUpload("external_id names one document: upload exactly one file with it")
    named = [a.file.external_id for a in accepted if a.file.external_id is not None]
    if len(named) != len(set(named)):
        raise InvalidUpload("two files of the upload have the same external_id")
    return accepted


def _accept_one(file: IncomingFile, options: UploadOptions) -> list[Accepted]:
    media_type = checked_type(file, options)
    if media_type != detect.ARCHIVE_MEDIA_TYPE or file.in_archive:
        if media_type == detect.ARCHIVE_MEDIA_TYPE:
            raise UnsupportedMediaType(f"{file.path!r}: archives inside archives are not supported")
        return [Accepted(file, media_type, hashlib.sha256(file.data).hexdigest())]
    members = archive.expand(file.data, file.filename, options.archive_limits)
    prefix = f"{file.path.rsplit('/', 1)[0]}/" if file.path and "/" in file.path else ""
    inner = [IncomingFile(m.name, m.data, path=prefix + m.path, in_archive=True) for m in members]
    return [a for f in inner for a in _accept_one(f, options)]


def checked_type(file: IncomingFile, options: UploadOptions, *, archives: bool = True) -> str:
    """The file's media type, judged from its content, once its name and size pass."""
    if not file.filename or len(file.filename) > MAX_FILENAME:
        raise InvalidUpload("every file needs a name of at most 255 characters")
    if len(file.data) > options.max_file_bytes:
        limit_mb = options.max_file_bytes / (1024 * 1024)
        raise PayloadTooLarge(f"{file.filename!r} exceeds the {limit_mb:g} MB limit")
    media_type = detect.detect_media_type(file.data, filename=file.filename)
    if media_type == detect.ARCHIVE_MEDIA_TYPE and not archives:
        raise UnsupportedMediaType(f"{file.filename!r}: archives are not indexed here; unpack it")
    return media_type


def check_room(scope: Scope, options: UploadOptions, new_sizes: Sequence[int]) -> None:
    """Refuse new documents of these sizes past the tenant's quotas, the queue's depth or
    the server's free disk space."""
    quota.check_upload(scope, options.quota, new_sizes)
    options.disk.check(incoming=sum(new_sizes))
    backpressure.check(scope, limit=options.max_queue_depth, adding=len(new_sizes))


def receive(
    scope: Scope, blobs: BlobStore, files: Sequence[IncomingFile], options: UploadOptions
) -> Queued:
    """Take an upload whole or refuse it whole: validate every file, check the tenant's
    quotas (its own, or `options.quota` where it has none), store, and queue one job."""
    options = replace(options, quota=tenants.quota(scope.tenant(), options.quota))
    return enqueue(scope, blobs, accept(files, options), options)


def enqueue(
    scope: Scope, blobs: BlobStore, accepted: Sequence[Accepted], options: UploadOptions
) -> Queued:
    """Check quotas, store blobs, create documents (or reuse identical ones) and one job."""
    known = {a.sha256: documents.with_bytes(scope, a.sha256) for a in accepted}
    check_room(scope, options, _new_sizes(accepted, known))
    job = scope.add(Job())
    scope.flush()
    items = [_item(scope, blobs, job, i, a, options, known) for i, a in enumerate(accepted)]
    scope.flush()
    return Queued(job=job, items=items)


def _item(
    scope: Scope,
    blobs: BlobStore,
    job: Job,
    position: int,
    acc: Accepted,
    options: UploadOptions,
    known: dict[str, Document | None],
) -> tuple[JobItem, Document]:
    """`known`: the tenant's live document of each sha, updated as this upload adds one
    (so the same bytes twice in one upload are one document and a duplicate)."""
    existing = known[acc.sha256]
    document = existing or _new_document(scope, blobs, acc, options)
    known[acc.sha256] = document
    item = scope.add(
        JobItem(job_id=job.id, document_id=document.id, position=position, duplicate=bool(existing))
    )
    return item, document


def _new_sizes(accepted: Sequence[Accepted], known: dict[str, Document | None]) -> list[int]:
    unique = {a.sha256: len(a.file.data) for a in accepted}
    return [size for sha, size in unique.items() if known[sha] is None]


def _new_document(
    scope: Scope, blobs: BlobStore, acc: Accepted, options: UploadOptions
) -> Document:
    blobs.put(scope.tenant_id, acc.file.data)
    new = documents.NewDocument(
        filename=acc.file.filename,
        path=acc.file.path,
        media_type=acc.media_type,
        sha256=acc.sha256,
        size_bytes=len(acc.file.data),
        external_id=acc.file.external_id or options.external_id,
        tags=options.tags,
        access=options.access,
        access_set=options.access_set,
    )
    return documents.create(scope, new)
