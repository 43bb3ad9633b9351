"""`insert_row`: one INSERT of a row as set, for the rows every request writes; the text
of JSON columns."""

import json
import uuid
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from retrieval.models import SearchRecord
from tenancy import tenants
from tenancy.db import insert_row, json_text, utcnow
from tenancy.ids import TenantId
from tenancy.models import Tenant
from tenancy.scope import Scope


def test_insert_row_writes_every_column_as_set(db: Session) -> None:
    tenant = TenantId(tenants.create(db, name="acme").id)
    results = [{"rank": 1, "chunk_id": str(uuid.uuid4()), "text": "ünïcode"}]
    row = SearchRecord(
        id=uuid.uuid4(),
        key_id=None,
        query="q",
        mode="hybrid",
        top_k=3,
        filters={"tags": ["a"]},
        results=results,
        created_at=utcnow(),
    )
    inserted = Scope(db, tenant).insert(row)
    assert inserted is row
    assert row not in db  # written, not tracked by the session
    stored = db.scalars(select(SearchRecord).where(SearchRecord.id == row.id)).one()
    assert (stored.tenant_id, stored.results, stored.filters) == (tenant, results, {"tags": ["a"]})
    assert (stored.created_at, stored.top_k, stored.key_id) == (row.created_at, 3, None)


def test_insert_row_refuses_a_row_without_its_primary_key(db: Session) -> None:
    # Python-side defaults (a new id) are not applied, and SQLite would store a NULL key.
    row = SearchRecord(key_id=None, query="q", mode="dense", top_k=1, filters={}, results=[])
    with pytest.raises(ValueError, match="primary key"):
        insert_row(db, row)


def test_insert_row_sends_what_the_session_holds_first(db: Session) -> None:
    # Added, not flushed, and the row refers to it: the insert must send it first.
    tenant = Tenant(id=uuid.uuid4(), name="pending")
    db.add(tenant)
    row = SearchRecord(
        id=uuid.uuid4(), key_id=None, query="q", mode="dense", top_k=1, filters={}, results=[]
    )
    row.created_at = utcnow()
    Scope(db, TenantId(tenant.id)).insert(row)
    assert db.scalar(select(SearchRecord.tenant_id).where(SearchRecord.id == row.id)) == tenant.id


@pytest.mark.parametrize(
    ("value", "read_back"),
    [
        ({"hits": [{"score": 0.1, "text": "é ☃ 𝄞"}]}, {"hits": [{"score": 0.1, "text": "é ☃ 𝄞"}]}),
        ({1: "a"}, {"1": "a"}),  # as the standard library writes a non-string key
        ([2**70], [2**70]),  # beyond orjson's 64 bits: the standard library writes it
    ],
)
def test_a_json_column_reads_back_the_value_it_was_given(value: Any, read_back: Any) -> None:
    assert json.loads(json_text(value)) == read_back


def test_both_engines_write_json_columns_with_json_text(db: Session) -> None:
    assert getattr(db.get_bind().dialect, "_json_serializer", None) is json_text
