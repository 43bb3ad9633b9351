"""Every supported format, for both tenants, through upload → worker → cited search."""

import asyncio
import hashlib
import uuid
from collections.abc import Sequence

import httpx
import pytest
from sqlalchemy import select

from api.services import Services
from retrieval.models import Chunk, Document
from tests.factories import FIXTURES, auth, ingest, make_tenant, search

PAGED = {"report.pdf", "roadmap.pptx", "budget.xlsx"}
HEADINGS = {
    "handbook.md",
    "faq.html",
    "report.pdf",
    "onboarding.docx",
    "field_guide.epub",
    "minutes.odt",
}


@pytest.mark.parametrize("tenant", ["acme", "globex"])
async def test_every_format_is_indexed_with_exact_citations(
    client: httpx.AsyncClient, services: Services, tenant: str
) -> None:
    keys = await make_tenant(client, tenant)
    files = sorted(
        (p.name, p.read_bytes()) for p in (FIXTURES / tenant).iterdir() if p.suffix != ".py"
    )
    job = await ingest(client, services, keys.admin, files)
    failed = [d for d in job["documents"] if d["status"] != "ready"]
    assert not failed, failed
    assert job["progress"] == {"total": len(files), "done": len(files), "failed": 0}
    with services.sessions() as session:
        for doc in session.scalars(
            select(Document).where(Document.tenant_id == uuid.UUID(keys.id))
        ):
            _check_document(
                session.scalars(select(Chunk).where(Chunk.document_id == doc.id)).all(), doc
            )


def _check_document(rows: Sequence[Chunk], doc: Document) -> None:
    assert rows, doc.filename
    assert doc.text is not None
    for chunk in rows:
        assert doc.text[chunk.char_start : chunk.char_end] == chunk.text, doc.filename
        assert hashlib.sha256(chunk.text.encode()).hexdigest() == chunk.sha256
        assert len(chunk.text) <= 1200
        if doc.filename in PAGED:
            assert chunk.page_start is not None, doc.filename
    if doc.filename in HEADINGS:
        assert any(c.section for c in rows), doc.filename
    # Running headers and footers (PDF "Page n of m", DOCX footer) stay out of the text.
    assert "Page 1 of" not in doc.text
    assert "do not forward" not in doc.text


async def test_a_version_swap_never_shows_neither_or_both(
    client: httpx.AsyncClient, services: Services
) -> None:
    keys = await make_tenant(client, "acme")
    meta = {"external_id": "rules"}
    old, new = b"Badge colour rule: blue badges.", b"Badge colour rule: green badges."
    await ingest(client, services, keys.admin, [("rules.txt", old)], meta)
    response = await client.post(
        "/v1/documents",
        files=[("files", ("rules.txt", new, "text/plain"))],
        data={"metadata": '{"external_id": "rules"}'},
        headers=auth(keys.admin),
    )
    assert response.status_code == 202
    worker = asyncio.create_task(asyncio.to_thread(services.worker.drain))
    seen: list[list[str]] = []
    while not worker.done():
        found = await search(client, keys.reader, "badge colour rule", mode="sparse", top_k=10)
        seen.append([h["text"] for h in found.json()["results"]])
    await worker
    final = await search(client, keys.reader, "badge colour rule", mode="sparse", top_k=10)
    seen.append([h["text"] for h in final.json()["results"]])
    assert all(len(texts) == 1 for texts in seen), seen
    assert seen[0] in ([old.decode()], [new.decode()])
    assert seen[-1] == [new.decode()]
