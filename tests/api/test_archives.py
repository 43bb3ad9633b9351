"""Zip uploads: members become documents with their paths; hostile archives are refused."""

import io
import zipfile

import httpx
import pytest

from api.services import Services
from tests.factories import FIXTURES, TenantKeys, auth, ingest, make_tenant, upload


def _zip(members: dict[str, bytes], *, level: int = zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=level) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


@pytest.fixture
async def acme(client: httpx.AsyncClient) -> TenantKeys:
    return await make_tenant(client, "Acme Robotics")


async def test_zip_members_are_ingested_as_separate_documents(
    client: httpx.AsyncClient, services: Services, acme: TenantKeys
) -> None:
    data = _zip(
        {
            "hr/handbook.md": (FIXTURES / "acme" / "handbook.md").read_bytes(),
            "hr/policies/policy.txt": (FIXTURES / "acme" / "policy.txt").read_bytes(),
            "reports/report.pdf": (FIXTURES / "acme" / "report.pdf").read_bytes(),
            "__MACOSX/._handbook.md": b"junk",
            "empty-dir/": b"",
        }
    )
    job = await ingest(client, services, acme.admin, [("docs.zip", data)], {"tags": ["bulk"]})
    assert job["progress"] == {"total": 3, "done": 3, "failed": 0}
    listing = (await client.get("/v1/documents?tag=bulk", headers=auth(acme.reader))).json()
    paths = {d["filename"]: d["path"] for d in listing["documents"]}
    assert paths == {
        "handbook.md": "hr/handbook.md",
        "policy.txt": "hr/policies/policy.txt",
        "report.pdf": "reports/report.pdf",
    }


@pytest.mark.parametrize("name", ["../../etc/passwd.txt", "/abs/file.txt", "C:/win/file.txt"])
async def test_zip_slip_paths_are_refused(
    client: httpx.AsyncClient, acme: TenantKeys, name: str
) -> None:
    response = await upload(client, acme.admin, [("evil.zip", _zip({name: b"hello there"}))])
    assert response.status_code == 422
    assert "unsafe path" in response.json()["error"]["message"]


async def test_a_zip_bomb_is_413_and_stores_nothing(
    client: httpx.AsyncClient, services: Services, acme: TenantKeys
) -> None:
    services.settings.max_upload_mb = 1
    bomb = _zip({"big.txt": b"a" * (5 * 1024 * 1024)})
    assert len(bomb) < 100 * 1024
    response = await upload(client, acme.admin, [("bomb.zip", bomb)])
    assert response.status_code == 413
    assert (await client.get("/v1/documents", headers=auth(acme.reader))).json()["documents"] == []


async def test_too_many_members_is_413(
    client: httpx.AsyncClient, services: Services, acme: TenantKeys
) -> None:
    services.settings.max_archive_members = 3
    many = _zip({f"f{i}.txt": f"file number {i}".encode() for i in range(4)})
    response = await upload(client, acme.admin, [("many.zip", many)])
    assert response.status_code == 413


async def test_a_zip_inside_a_zip_is_415(client: httpx.AsyncClient, acme: TenantKeys) -> None:
    inner = _zip({"a.txt": b"inner text"})
    response = await upload(client, acme.admin, [("outer.zip", _zip({"inner.zip": inner}))])
    assert response.status_code == 415


async def test_an_unsupported_member_is_415_naming_it(
    client: httpx.AsyncClient, acme: TenantKeys
) -> None:
    binary = (FIXTURES / "bad" / "binary.txt").read_bytes()
    response = await upload(
        client, acme.admin, [("mixed.zip", _zip({"ok.txt": b"fine text", "x/bin.txt": binary}))]
    )
    assert response.status_code == 415
    assert "bin.txt" in response.json()["error"]["message"]


async def test_a_corrupt_zip_is_422(client: httpx.AsyncClient, acme: TenantKeys) -> None:
    data = _zip({"a.txt": b"hello world, this is text"})
    response = await upload(client, acme.admin, [("broken.zip", data[: len(data) // 2])])
    assert response.status_code in (415, 422)


async def test_a_body_over_the_request_limit_is_413_before_buffering(
    app: object, client: httpx.AsyncClient, acme: TenantKeys
) -> None:
    from api.http.middleware import BodyLimitMiddleware

    limited = BodyLimitMiddleware(app, upload_bytes=1024)  # type: ignore[arg-type]
    transport = httpx.ASGITransport(app=limited)
    async with httpx.AsyncClient(transport=transport, base_url="http://enclave.test") as small:
        declared = await small.post(
            "/v1/documents", files=[("files", ("a.txt", b"x" * 4096))], headers=auth(acme.admin)
        )

        async def chunks() -> object:
            yield b'--zzz\r\nContent-Disposition: form-data; name="files"; filename="a.txt"\r\n\r\n'
            for _ in range(8):
                yield b"y" * 512

        streamed = await small.post(
            "/v1/documents",
            content=chunks(),  # type: ignore[arg-type]
            headers={**auth(acme.admin), "content-type": "multipart/form-data; boundary=zzz"},
        )
    assert declared.status_code == streamed.status_code == 413
    assert streamed.json()["error"]["code"] == "payload_too_large"
