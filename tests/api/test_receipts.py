"""Receipts: every search signed, verifiable offline with the published keys and the texts."""

import base64
import json
import os
import stat
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from typer.testing import CliRunner

from api.cli.main import app as cli
from api.services import Services
from enclave_client.receipts import ReceiptError, verify
from tenancy import signing
from tests.api.conftest import World
from tests.api.test_mcp import body, connect
from tests.factories import OPERATOR, auth, search


async def _searched(client: httpx.AsyncClient, world: World) -> dict[str, Any]:
    found = await search(client, world.a.keys.reader, "leave and time off", top_k=3)
    assert found.status_code == 200, found.text
    data: dict[str, Any] = found.json()
    return data


async def _jwks(client: httpx.AsyncClient) -> dict[str, Any]:
    keys: dict[str, Any] = (await client.get("/.well-known/jwks.json")).json()
    return keys


async def _texts(client: httpx.AsyncClient, key: str, found: dict[str, Any]) -> dict[str, str]:
    ids = {hit["citation"]["document_id"] for hit in found["results"]}
    return {
        doc: (await client.get(f"/v1/documents/{doc}/text", headers=auth(key))).text for doc in ids
    }


async def test_a_search_answers_with_a_receipt_that_verifies_offline(
    client: httpx.AsyncClient, world: World
) -> None:
    found = await _searched(client, world)
    texts = await _texts(client, world.a.keys.reader, found)
    payload = verify(found["receipt"], await _jwks(client), texts=texts)
    assert payload["search_id"] == found["search_id"]
    assert payload["tenant_id"] == world.a.keys.id
    assert [h["chunk_id"] for h in payload["hits"]] == [h["chunk_id"] for h in found["results"]]
    assert "leave" not in json.dumps(payload)  # the query is hashed, never carried
    events = await client.get("/v1/audit?action=search", headers=auth(world.a.keys.admin))
    event = events.json()["events"][-1]
    assert (payload["audit"]["seq"], payload["audit"]["hash"]) == (event["seq"], event["hash"])


def _tampered(receipt: str, **changes: Any) -> str:
    header, payload, signature = receipt.split(".")
    data = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    data.update(changes)
    if "hit_score" in changes:
        data.pop("hit_score")
        data["hits"][0]["score"] = 9.0
    encoded = base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()
    return f"{header}.{encoded}.{signature}"


@pytest.mark.parametrize(
    "change",
    [
        {"search_id": "00000000-0000-4000-8000-000000000000"},
        {"tenant_id": "00000000-0000-4000-8000-000000000001"},
        {"identity": "user:mallory"},
        {"access": None},
        {"mode": "dense"},
        {"audit": {"seq": 1, "hash": "0" * 64}},
        {"hit_score": True},
    ],
)
async def test_any_changed_field_fails_the_signature(
    client: httpx.AsyncClient, world: World, change: dict[str, Any]
) -> None:
    found = await _searched(client, world)
    with pytest.raises(ReceiptError, match="signature"):
        verify(_tampered(found["receipt"], **change), await _jwks(client))


async def test_a_span_that_does_not_match_its_text_fails(
    client: httpx.AsyncClient, world: World
) -> None:
    found = await _searched(client, world)
    texts = await _texts(client, world.a.keys.reader, found)
    forged = {doc: "x" + text for doc, text in texts.items()}
    with pytest.raises(ReceiptError, match="chunk_sha256"):
        verify(found["receipt"], await _jwks(client), texts=forged)


async def test_an_unknown_key_fails_and_a_retired_key_still_verifies(
    client: httpx.AsyncClient, world: World, services: Services, tmp_path: Path
) -> None:
    found = await _searched(client, world)
    stranger = signing.load(tmp_path / "stranger")
    with pytest.raises(ReceiptError, match="unknown key"):
        verify(found["receipt"], stranger.jwks())
    rotated = signing.rotate(services.settings.signing_path)
    assert rotated.kid != services.signing.kid
    assert verify(found["receipt"], rotated.jwks())["search_id"] == found["search_id"]


async def test_the_receipt_is_served_again_later_and_outlives_its_documents(
    client: httpx.AsyncClient, world: World
) -> None:
    found = await _searched(client, world)
    url = f"/v1/searches/{found['search_id']}/receipt"
    again = await client.get(url, headers=auth(world.a.keys.reader))
    assert again.json()["receipt"] == found["receipt"]
    doc = found["results"][0]["citation"]["document_id"]
    await client.delete(f"/v1/documents/{doc}", headers=auth(world.a.keys.admin))
    after = await client.get(url, headers=auth(world.a.keys.admin))
    payload = verify(after.json()["receipt"], await _jwks(client))
    assert (
        payload["hits"][0]["document_sha256"] == found["results"][0]["citation"]["document_sha256"]
    )


async def test_another_tenants_receipt_answers_like_a_missing_one(
    client: httpx.AsyncClient, world: World
) -> None:
    found = await _searched(client, world)
    theirs = await client.get(
        f"/v1/searches/{found['search_id']}/receipt", headers=auth(world.b.keys.admin)
    )
    missing = await client.get(
        "/v1/searches/00000000-0000-4000-8000-000000000000/receipt",
        headers=auth(world.b.keys.admin),
    )
    assert (theirs.status_code, theirs.content) == (404, missing.content)


async def test_another_identitys_receipt_answers_like_a_missing_one(
    client: httpx.AsyncClient, world: World
) -> None:
    """Two readers of one tenant, bound to different users: each sees only its own."""
    keys = []
    for user in ("ana", "ben"):
        spec = {"name": user, "role": "reader", "user": user}
        made = await client.post(f"/v1/tenants/{world.a.keys.id}/keys", json=spec, headers=OPERATOR)
        assert made.status_code == 201, made.text
        keys.append(made.json()["key"])
    found = await search(client, keys[0], "leave and time off", top_k=3)
    assert found.status_code == 200, found.text
    path = f"/v1/searches/{found.json()['search_id']}/receipt"
    own = await client.get(path, headers=auth(keys[0]))
    assert own.status_code == 200
    assert own.json()["receipt"] == found.json()["receipt"]
    other = await client.get(path, headers=auth(keys[1]))
    missing = await client.get(
        "/v1/searches/00000000-0000-4000-8000-000000000000/receipt", headers=auth(keys[1])
    )
    assert (other.status_code, other.content) == (404, missing.content)


async def test_mcp_search_results_carry_the_receipt(
    app: FastAPI, client: httpx.AsyncClient, world: World
) -> None:
    async with connect(app, world.a.keys.reader) as mcp:
        result = body(await mcp.call_tool("search", {"query": "leave", "top_k": 2}))
    assert verify(result["receipt"], await _jwks(client))["search_id"] == result["search_id"]


def test_the_private_key_is_made_once_readable_by_its_owner_only(tmp_path: Path) -> None:
    first = signing.load(tmp_path)
    assert stat.S_IMODE(os.stat(tmp_path / signing.CURRENT).st_mode) == 0o600
    assert signing.load(tmp_path).kid == first.kid


async def test_enclave_receipt_verify_checks_signature_and_spans(
    client: httpx.AsyncClient, world: World, tmp_path: Path
) -> None:
    found = await _searched(client, world)
    (tmp_path / "answer.json").write_text(json.dumps(found))
    (tmp_path / "jwks.json").write_text(json.dumps(await _jwks(client)))
    texts = await _texts(client, world.a.keys.reader, found)
    args = [
        "receipt",
        "verify",
        str(tmp_path / "answer.json"),
        "--jwks",
        str(tmp_path / "jwks.json"),
    ]
    for i, (doc, text) in enumerate(texts.items()):
        (tmp_path / f"{i}.txt").write_text(text)
        args += ["--text", f"{doc}={tmp_path / f'{i}.txt'}"]
    good = CliRunner().invoke(cli, args)
    assert good.exit_code == 0, good.output
    assert "receipt OK" in good.output
    (tmp_path / "forged.jws").write_text(_tampered(found["receipt"], mode="dense"))
    args[2] = str(tmp_path / "forged.jws")
    bad = CliRunner().invoke(cli, args)
    assert bad.exit_code == 1
    assert bad.output.startswith("receipt INVALID")
    assert len(bad.output.strip().splitlines()) == 1
