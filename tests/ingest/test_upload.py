"""Accepting an upload, called directly: whole or not at all, idempotent, versioned, per tenant."""

import hashlib

import pytest

from api.services import Services
from ingest.errors import UnsupportedMediaType
from retrieval.models import DocumentStatus
from tenancy.errors import QuotaExceeded
from tenancy.ids import TenantId
from tenancy.limits import Quota
from tests.ingest.conftest import documents_of, receive

MEMO = ("memo.txt", b"The pump valve is inspected every week.")


def test_an_upload_creates_queued_documents_and_one_job(services: Services, acme: TenantId) -> None:
    queued = receive(services, acme, [MEMO, ("notes.md", b"# Notes\n\nValves.")], tags=("ops",))
    assert [doc.status for _, doc in queued.items] == [DocumentStatus.QUEUED] * 2
    assert {item.job_id for item, _ in queued.items} == {queued.job.id}
    stored = documents_of(services, acme)
    assert [(d.filename, d.tags) for d in stored] == [("memo.txt", ["ops"]), ("notes.md", ["ops"])]
    assert services.blobs.get(acme, stored[0].sha256) == MEMO[1]


def test_the_same_bytes_again_are_the_same_document(services: Services, acme: TenantId) -> None:
    first = receive(services, acme, [MEMO])
    again = receive(services, acme, [("renamed.txt", MEMO[1])])
    ((_, doc),) = first.items
    ((item, same),) = again.items
    assert (same.id, item.duplicate) == (doc.id, True)
    assert len(documents_of(services, acme)) == 1


def test_the_same_bytes_in_two_tenants_are_two_documents(
    services: Services, acme: TenantId, globex: TenantId
) -> None:
    ((_, a),) = receive(services, acme, [MEMO]).items
    ((item, b),) = receive(services, globex, [MEMO]).items
    assert a.id != b.id
    assert not item.duplicate
    assert [d.id for d in documents_of(services, globex)] == [b.id]


def test_an_external_id_with_new_bytes_is_the_next_version(
    services: Services, acme: TenantId
) -> None:
    receive(services, acme, [("policy.txt", b"Version one.")], external_id="policy")
    receive(services, acme, [("policy.txt", b"Version two.")], external_id="policy")
    receive(services, acme, [("other.txt", b"Other.")], external_id="other")
    versions = {(d.external_id, d.version) for d in documents_of(services, acme)}
    assert versions == {("policy", 1), ("policy", 2), ("other", 1)}


def test_one_bad_file_refuses_the_upload_whole(services: Services, acme: TenantId) -> None:
    with pytest.raises(UnsupportedMediaType):
        receive(services, acme, [MEMO, ("tool.exe", b"MZ\x90\x00" + bytes(200))])
    assert documents_of(services, acme) == []


def test_an_upload_past_the_quota_stores_nothing(services: Services, acme: TenantId) -> None:
    receive(services, acme, [MEMO], quota=Quota(max_documents=1))
    second = b"Another memo."
    with pytest.raises(QuotaExceeded):
        receive(services, acme, [("second.txt", second)], quota=Quota(max_documents=1))
    assert [d.filename for d in documents_of(services, acme)] == ["memo.txt"]
    assert not services.blobs.path(acme, hashlib.sha256(second).hexdigest()).exists()
