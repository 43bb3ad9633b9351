"""Uploaded files as the domain takes them, and the upload limits from the settings."""

from fastapi import UploadFile

from api.services import Services
from ingest import upload
from ingest.archive import ArchiveLimits, safe_path
from ingest.errors import InvalidUpload, PayloadTooLarge


def read_upload(file: UploadFile, limit: int) -> upload.IncomingFile:
    """A multipart file, read up to `limit` bytes (413 past it); a name with folders (from
    `enclave ingest DIR` or `enclave sync`) keeps them as the document's path."""
    name = (file.filename or "").replace("\\", "/").strip("/")
    base = name.rsplit("/", 1)[-1]
    if any(ord(c) < 32 or ord(c) == 127 for c in name) or base in ("", ".", ".."):
        raise InvalidUpload(f"{name[:80]!r} is not a file name: no control characters, not . or ..")
    data = file.file.read(limit + 1)
    if len(data) > limit:
        raise PayloadTooLarge(f"{name!r} exceeds the {limit / (1024 * 1024):g} MB limit")
    path = safe_path(name, "the upload") if "/" in name else None
    return upload.IncomingFile(filename=name.rsplit("/", 1)[-1], data=data, path=path)


def upload_options(services: Services) -> upload.UploadOptions:
    """The service's limits for an upload (the tenant's own quota is applied by the domain)."""
    settings = services.settings
    return upload.UploadOptions(
        quota=services.quota,
        max_file_bytes=settings.max_upload_bytes,
        max_queue_depth=settings.max_queue_depth,
        disk=services.disk,
        archive_limits=ArchiveLimits(
            max_members=settings.max_archive_members,
            max_member_bytes=settings.max_upload_bytes,
            max_total_bytes=int(settings.max_archive_mb * 1024 * 1024),
        ),
    )
