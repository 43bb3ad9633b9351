"""The one funnel to tenant-owned SQL rows: every statement on them is scoped here.

A `Scope` is a session bound to one tenant. Domain code builds statements from
`scope.select(...)` (joins and all) and runs them through the scope, which puts
`tenant_id = :tenant` on every tenant-owned table the statement reads, joined ones
included; it writes through `add`, `insert`, `update` and `delete`, which stamp or
filter the tenant the same way. Statements on the hot path are built once with
`prepared(...)` and bound to the caller's tenant when they run. This module is the
only one that compares `tenant_id`; the few paths that must cross tenants are named in
`tenancy.system`, and `tests/test_architecture.py` fails on any other bypass.
"""

import uuid
import weakref
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from typing import Any, TypeVar, Unpack, cast

from sqlalchemy import (
    CTE,
    Boolean,
    ColumnElement,
    CursorResult,
    Delete,
    FromClause,
    Join,
    Select,
    Table,
    Update,
    and_,
    bindparam,
    delete,
    exists,
    func,
    insert,
    inspect,
    or_,
    select,
    update,
)
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import BindParameter

from tenancy import db, driver
from tenancy.errors import NotFound
from tenancy.ids import TenantId
from tenancy.models import ApiKey, AuditEvent, Tenant, TenantOwned

T = TypeVar("T", bound=TenantOwned | ApiKey | AuditEvent)
# A SELECT of any columns (SQLAlchemy 2.1 types a Select by the tuple of its columns).
AnySelect = Select[Unpack[tuple[Any, ...]]]  # noqa: UP044 (mypy 2.4 crashes on the star form)
S = TypeVar("S", bound=AnySelect)

# The caller's tenant and access in statements built once (`prepared`), bound by
# `Scope.execute`: ALL is true for an unrestricted caller, TOKENS are a restricted one's.
TENANT: BindParameter[uuid.UUID] = bindparam("enclave_tenant")
ALL: BindParameter[bool] = bindparam("enclave_all", type_=Boolean)
TOKENS: BindParameter[list[str]] = bindparam("enclave_tokens", expanding=True)

# Tables whose rows a restricted caller reads only where their access tokens meet its own:
# the package that owns such a table registers the condition (`guard`).
Guard = Callable[[Table, Any], ColumnElement[bool]]
_GUARDS: dict[str, Guard] = {}


def guard(table: Table, condition: Guard) -> None:
    """Make every scoped read of `table` by a restricted caller pass `condition(table,
    tokens)`, where `tokens` are the caller's access tokens (a list or a bound parameter)."""
    _GUARDS[table.name] = condition


ReadPhase = Callable[[Session], AbstractContextManager[None]]


def _no_phase(_session: Session) -> AbstractContextManager[None]:
    return nullcontext()


@dataclass(frozen=True)
class Scope:
    """A session bound to one tenant; the only way to reach that tenant's rows.

    `read_phase` is how the caller's transaction policy runs a block that only reads
    (`reading`); outside a request (workers, tests) it is a plain block. `access` restricts
    the reads of guarded tables (documents and their chunks) to what the caller may read.
    """

    session: Session
    tenant_id: TenantId
    read_phase: ReadPhase = _no_phase
    # The caller's access tokens; None: unrestricted (admins, the worker, operators' erasure).
    access: frozenset[str] | None = None

    # -- building ---------------------------------------------------------------------

    def select(self, model: type[T], *columns: Any) -> AnySelect:
        """`SELECT model` (or `columns` FROM model) `WHERE tenant_id = :tenant`; join and
        filter it further: tables joined later are scoped when the statement runs."""
        statement = select(*columns).select_from(model) if columns else select(model)
        return statement.where(self._owned(model))

    def scoped(self, statement: S) -> S:
        """`statement` with the tenant condition on every tenant-owned table it reads
        (for a statement used as a subquery; the run methods below apply it themselves)."""
        conditions = [self._table(table) for table in _owned_tables(statement)]
        return statement.where(*conditions)

    # -- reading ----------------------------------------------------------------------

    def all(self, query: AnySelect) -> list[Any]:
        """The entities (or first column) of `query`, scoped."""
        return list(self.session.scalars(self.scoped(query)))

    def first(self, query: AnySelect) -> Any:
        """The first entity of `query`, scoped, or None."""
        return self.session.scalars(self.scoped(query)).first()

    def one_or_none(self, query: AnySelect) -> Any:
        """The only entity of `query`, scoped, or None."""
        return self.session.scalars(self.scoped(query)).one_or_none()

    def scalar(self, query: AnySelect) -> Any:
        """The single value of `query` (an aggregate), scoped."""
        return self.session.scalar(self.scoped(query))

    def rows(self, query: AnySelect) -> list[Any]:
        """The rows (tuples) of `query`, scoped."""
        return list(self.session.execute(self.scoped(query)))

    def tenant(self) -> Tenant:
        """The scope's own tenant row."""
        tenant = self.session.get(Tenant, self.tenant_id)
        if tenant is None:
            raise NotFound("tenant")
        return tenant

    def get(self, model: type[T], row_id: uuid.UUID, *, kind: str) -> T:
        """The row with `row_id` in this tenant, or NotFound (also for other tenants' ids)."""
        row = self.find(model, row_id)
        if row is None:
            raise NotFound(kind)
        return row

    def find(self, model: type[T], row_id: uuid.UUID) -> T | None:
        """The row with `row_id` in this tenant, or None."""
        found: T | None = self.one_or_none(self.select(model).where(model.id == row_id))
        return found

    def count(self, model: type[T], *where: ColumnElement[bool]) -> int:
        """How many of the tenant's `model` rows match `where`."""
        return int(self.scalar(self.select(model, func.count()).where(*where)) or 0)

    def exists(self, model: type[T], *where: ColumnElement[bool]) -> bool:
        """Whether any of the tenant's `model` rows matches `where`."""
        inner = self.select(model, model.id).where(*where)
        return bool(self.session.scalar(select(exists(inner))))

    def execute(self, statement: AnySelect, **params: Any) -> list[dict[str, Any]]:
        """Run a statement built once with `prepared`, bound to this tenant; its rows."""
        bound = {
            TENANT.key: self.tenant_id,
            ALL.key: self.access is None,
            TOKENS.key: sorted(self.access or ()),
            **params,
        }
        # Columns only: after what the session holds is sent, the session's connection's
        # driver runs it, in the session's transaction (`tenancy.driver`: every search runs
        # two of these).
        self.session.flush()
        return driver.rows(self.session.connection(), statement, bound)

    # -- writing ----------------------------------------------------------------------

    def own(self, row: T) -> T:
        """Stamp a new row with this tenant without adding it (for rows whose other fields
        depend on their tenant, such as a hash-chained audit event)."""
        row.tenant_id = self.tenant_id
        return row

    def add(self, row: T) -> T:
        """Add a new row, stamped with this tenant."""
        row.tenant_id = self.tenant_id
        self.session.add(row)
        return row

    def insert(self, row: T) -> T:
        """INSERT a new row now, stamped with this tenant (see `db.insert_row`)."""
        row.tenant_id = self.tenant_id
        db.insert_row(self.session, row)
        return row

    def insert_rows(self, model: type[T], rows: Sequence[dict[str, Any]]) -> None:
        """INSERT many rows in one statement, each stamped with this tenant (no unit of work:
        the rows are not loaded into the session)."""
        if rows:
            stamped = [{**row, "tenant_id": self.tenant_id} for row in rows]
            self.session.execute(insert(model), stamped)

    def locked(self, model: type[T], row_id: uuid.UUID) -> T | None:
        """The row, locked until the transaction ends (`FOR UPDATE`; SQLite's write
        transaction already holds the database), or None."""
        query = self.select(model).where(model.id == row_id).with_for_update()
        found: T | None = self.one_or_none(query)
        return found

    def update(self, model: type[T], *where: ColumnElement[bool], **values: Any) -> int:
        """UPDATE the tenant's rows matching `where`; how many changed."""
        statement = update(model).where(self._owned(model), *where).values(**values)
        return _rowcount(
            self.session.execute(statement.execution_options(synchronize_session=False))
        )

    def delete(self, model: type[T], *where: ColumnElement[bool]) -> int:
        """DELETE the tenant's rows matching `where`; how many there were."""
        statement: Delete = delete(model).where(self._owned(model), *where)
        return _rowcount(
            self.session.execute(statement.execution_options(synchronize_session=False))
        )

    def remove(self, row: T) -> None:
        """Delete one loaded row of this tenant (the unit of work deletes it at flush)."""
        if row.tenant_id != self.tenant_id:
            raise NotFound(type(row).__name__.lower())
        self.session.delete(row)

    def savepoint(self) -> AbstractContextManager[Any]:
        """A nested transaction: an error inside the block rolls back the block alone."""
        return self.session.begin_nested()

    def flush(self) -> None:
        """Send pending changes (domain code never commits: the caller's transaction does)."""
        self.session.flush()

    # -- transactions -----------------------------------------------------------------

    def reading(self) -> AbstractContextManager[None]:
        """Mark a block that only reads, ahead of the writes that follow it: the caller's
        transaction policy may run it in a read-only transaction of its own."""
        return self.read_phase(self.session)

    def _owned(self, model: type[T]) -> ColumnElement[bool]:
        return self._table(cast(Table, inspect(model).local_table))

    def _table(self, table: Table) -> ColumnElement[bool]:
        """`tenant_id = :tenant`, and the table's guard for a restricted caller."""
        condition = table.c.tenant_id == self.tenant_id
        rule = _GUARDS.get(table.name)
        if rule is None or self.access is None:
            return condition
        return and_(condition, rule(table, sorted(self.access)))


def prepared(statement: S) -> S:
    """`statement` with `tenant_id = :enclave_tenant` on every tenant-owned table it reads
    (and the guard of a guarded one, unless :enclave_all), for statements built once at
    import (building costs as much as running them); run it with `Scope.execute`, which
    binds the caller's tenant and access."""
    conditions = [_prepared(table) for table in _owned_tables(statement)]
    scoped = statement.where(*conditions)
    _PREPARED[id(scoped)] = scoped
    return scoped


def _prepared(table: Table) -> ColumnElement[bool]:
    condition = table.c.tenant_id == TENANT
    rule = _GUARDS.get(table.name)
    return condition if rule is None else and_(condition, or_(ALL, rule(table, TOKENS)))


def _owned_tables(statement: AnySelect | Update | Delete) -> list[Table]:
    """The tenant-owned tables a statement reads from, joins included, each once.

    Finding a SELECT's FROM list compiles it (~2 ms: it made an upload of 50 files 2.3x
    slower), so the answer is kept per statement shape, the key SQLAlchemy caches compiled
    statements under (bound values are not part of it, and they do not change the tables).
    """
    if not isinstance(statement, Select):
        return _owned_of([statement.table])
    key = statement._generate_cache_key()  # the key of SQLAlchemy's own compiled cache
    if key is None:  # a statement SQLAlchemy will not cache: work it out each time
        return _owned_of(statement.get_final_froms())
    found = _TABLES_BY_SHAPE.get(key.key)
    if found is None:
        found = _owned_of(statement.get_final_froms())
        if len(_TABLES_BY_SHAPE) >= _SHAPES_KEPT:
            _TABLES_BY_SHAPE.clear()
        _TABLES_BY_SHAPE[key.key] = found
    return list(found)


# The statements `prepared` made, by id (weakly: an entry leaves with its statement, so an id
# is never another's): a CTE of one of them is scoped already, and a statement may read it.
_PREPARED: weakref.WeakValueDictionary[int, Any] = weakref.WeakValueDictionary()

# Statement shapes are few (the code's queries); the bound keeps a pathological caller finite.
_SHAPES_KEPT = 4096
_TABLES_BY_SHAPE: dict[Any, list[Table]] = {}


def _owned_of(froms: Sequence[FromClause]) -> list[Table]:
    seen: dict[str, Table] = {}
    for table in _tables(froms):
        if "tenant_id" in table.c:
            seen.setdefault(table.name, table)
    return list(seen.values())


def _tables(froms: Sequence[FromClause]) -> Iterator[Table]:
    for item in froms:
        if isinstance(item, Join):
            yield from _tables([item.left, item.right])
        elif isinstance(item, Table):
            yield item
        elif isinstance(item, CTE) and _PREPARED.get(id(item.element)) is item.element:
            continue  # a CTE of a prepared statement: its tables are filtered inside it
        else:
            raise TypeError(f"cannot scope a statement reading from {type(item).__name__}")


def _rowcount(result: Any) -> int:
    return int(cast(CursorResult[Any], result).rowcount)
