"""Hit resolution reads the hits' chunks by id, once, whatever the planner knows.

PostgreSQL without statistics on these tables (a fresh load before autovacuum's ANALYZE, or
autovacuum off) used to start from the tenant's documents and scan the tenant's chunks once
per document: ~100 ms per search at 5,000 chunks instead of ~1 ms. The chunks are now found
in a materialized CTE first; this test reads the plan of the statement a search runs.
"""

import uuid
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import Session

from retrieval import search as searching
from tenancy import tenants
from tenancy.ids import TenantId
from tenancy.scope import Scope


def _statement(db: Session) -> tuple[str, Any]:
    """The SQL and parameters `_ready_chunks` sends for 30 hits."""
    scope = Scope(db, TenantId(tenants.create(db, name="acme").id))
    sent: list[tuple[str, Any]] = []

    def grab(_c: Any, _cur: Any, statement: str, parameters: Any, *_: Any) -> None:
        sent.append((statement, parameters))

    engine = db.get_bind()
    event.listen(engine, "before_cursor_execute", grab)
    try:
        searching._ready_chunks(scope, [uuid.uuid4() for _ in range(30)])
    finally:
        event.remove(engine, "before_cursor_execute", grab)
    (found,) = sent
    return found


def _nodes(plan: dict[str, Any], inside: str = "") -> list[tuple[str, dict[str, Any]]]:
    """Every node of a PostgreSQL JSON plan, with the CTE it belongs to ("" for none)."""
    where = plan.get("Subplan Name", inside)
    found = [(where, plan)]
    for child in plan.get("Plans", []):
        found += _nodes(child, where)
    return found


def test_the_chunks_are_read_once_inside_the_hits_cte(db: Session) -> None:
    sql, parameters = _statement(db)
    cursor = db.connection().connection.driver_connection.cursor()  # type: ignore[union-attr]
    if db.get_bind().dialect.name == "postgresql":
        cursor.execute("EXPLAIN (FORMAT JSON) " + sql, parameters)
        chunk_reads = [
            where
            for where, node in _nodes(cursor.fetchone()[0][0]["Plan"])
            if node.get("Relation Name") == "chunks"
        ]
        assert chunk_reads == ["CTE hit_chunks"]
    else:
        cursor.execute("EXPLAIN QUERY PLAN " + sql, parameters)
        details = [row[3] for row in cursor.fetchall()]
        assert "MATERIALIZE hit_chunks" in details
