"""Points written before their payload gained a field get it when a worker starts.

Payload version 1 added `access`: a document indexed before it has points without access
tokens, which no restricted search matches (it fails closed, not open). At start, before it
claims work, a worker writes the tokens of every such ready document from its SQL rows and
marks it current; a second start finds nothing to do.
"""

import logging

from sqlalchemy import select

from retrieval.index import VectorIndex
from retrieval.models import Document, DocumentStatus
from retrieval.points import PAYLOAD_VERSION
from tenancy import system
from tenancy.db import SessionFactory
from tenancy.ids import TenantId

log = logging.getLogger("enclave.ingest")
BATCH = 200


def payloads(sessions: SessionFactory, index: VectorIndex) -> int:
    """Bring every ready document's points to the current payload; how many documents."""
    done = 0
    while batch := _stale(sessions):
        with sessions.begin() as session:
            for doc in batch:
                index.set_access(TenantId(doc.tenant_id), doc.id, doc.access_tokens)
                session.merge(doc).payload_version = PAYLOAD_VERSION
        done += len(batch)
    if done:
        log.info("brought the index payload of %d document(s) up to date", done)
    return done


@system.wide("a payload upgrade runs once over every tenant's indexed documents")
def _stale(sessions: SessionFactory) -> list[Document]:
    query = select(Document).where(
        Document.status == DocumentStatus.READY, Document.payload_version < PAYLOAD_VERSION
    )
    with sessions() as session:
        rows = list(session.scalars(query.limit(BATCH)))
        for doc in rows:
            _ = doc.access_rows  # loaded before the session closes
        return rows
