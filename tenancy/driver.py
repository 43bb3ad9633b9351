"""Statements built once, run on the database driver: the statements every search sends.

SQLAlchemy's statement layer (the compiled cache's key, an execution context, a cursor
result, a row object per row) cost more than the database took to run them: a search's hit
resolution spent ~0.3 ms there and ~0.2 ms in SQLite. Here a statement built once is
compiled once per dialect by SQLAlchemy's own compiler, bound with its types' own
processors (`construct_expanded_state`, `dialect_impl`), and run on the connection's DB-API
connection, inside the connection's transaction. A driver error is raised as SQLAlchemy
raises it from `Connection.execute` (`DBAPIError.instance`), so the error mapping is one,
and a lost connection is invalidated as SQLAlchemy invalidates it. A statement whose bind
names the dialect must escape runs through SQLAlchemy instead (none does today).
`tests/tenancy/test_driver.py` runs each such statement both ways and compares the rows.
"""

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Insert, Select, exc
from sqlalchemy.engine import Dialect
from sqlalchemy.sql.compiler import SQLCompiler

Processor = Callable[[Any], Any] | None


@dataclass
class _Plan:
    """A statement compiled for one dialect, and how its rows come back."""

    compiled: SQLCompiler
    binds: Mapping[str, Processor]  # each bound parameter's processor (a list's: its items')
    keys: tuple[str, ...]
    # Each column's processor, set at the first run: some depend on the type the driver
    # reports for the column (PostgreSQL's numbers).
    results: tuple[Processor, ...] | None = None


# A dialect's plans, per statement and inserted columns, are kept on the dialect (an
# engine's): a plan refers to its dialect, so a cache keyed by dialects elsewhere would keep
# every engine's alive. The bound is a guard against statements built per call.
_ATTRIBUTE = "_enclave_driver_plans"
_Plans = dict[tuple[int, tuple[str, ...]], tuple[object, "_Plan | None"]]
MAX_PLANS = 256


def rows(
    connection: Connection, statement: Select[Any], params: Mapping[str, Any]
) -> list[dict[str, Any]]:
    """The rows of `statement` (built once) bound to `params`, as dicts by column key."""
    plan = _plan(connection.dialect, statement)
    if plan is None:
        return [dict(row) for row in connection.execute(statement, params).mappings()]
    cursor = _run(connection, plan, params)
    try:
        fetched = cursor.fetchall()
        results = plan.results if plan.results is not None else _results(connection, plan, cursor)
    finally:
        cursor.close()
    keys = plan.keys
    if not any(results):
        return [dict(zip(keys, row, strict=True)) for row in fetched]
    return [
        {k: (p(v) if p is not None else v) for k, p, v in zip(keys, results, row, strict=True)}
        for row in fetched
    ]


def insert(connection: Connection, statement: Insert, values: Mapping[str, Any]) -> None:
    """Run `statement` (an INSERT built once, of every column in `values`)."""
    plan = _plan(connection.dialect, statement, tuple(values))
    if plan is None:
        connection.execute(statement, values)
    else:
        _run(connection, plan, values).close()


def _run(connection: Connection, plan: _Plan, params: Mapping[str, Any]) -> Any:
    state = plan.compiled.construct_expanded_state(dict(params), escape_names=False)
    processors = {**plan.binds, **state.processors} if state.processors else plan.binds
    bound = {
        name: (processor(value) if (processor := processors.get(name)) else value)
        for name, value in state.parameters.items()
    }
    positions = state.positiontup
    driver_params: Any = tuple(bound[n] for n in positions) if positions else bound
    driver = connection.connection.driver_connection
    if driver is None:
        raise exc.InvalidRequestError("the connection is closed")
    cursor = driver.cursor()
    try:
        # Listeners of the engine's statements (tests that read what was sent) see these
        # too, with no execution context.
        for listener in connection.dispatch.before_cursor_execute:
            listener(connection, cursor, state.statement, driver_params, None, False)
        cursor.execute(state.statement, driver_params)
        for listener in connection.dispatch.after_cursor_execute:
            listener(connection, cursor, state.statement, driver_params, None, False)
    except BaseException as error:
        cursor.close()
        if isinstance(error, connection.dialect.loaded_dbapi.Error):
            raise _sqlalchemys(connection, error, state.statement, driver_params) from error
        raise
    return cursor


def _sqlalchemys(
    connection: Connection, error: Any, statement: str, params: Any
) -> exc.StatementError:
    """`error` as SQLAlchemy raises it; a lost connection is invalidated first, so that the
    transaction's rollback (and the audit of the failure) runs as after any other error."""
    dialect = connection.dialect
    lost = dialect.is_disconnect(error, connection.connection.dbapi_connection, None)
    if lost:
        connection.invalidate(error)
    wrapped: exc.StatementError = exc.DBAPIError.instance(
        statement,
        params,
        error,
        dialect.loaded_dbapi.Error,
        hide_parameters=True,
        connection_invalidated=lost,
        dialect=dialect,
    )
    return wrapped


def _plan(
    dialect: Dialect, statement: Select[Any] | Insert, columns: Sequence[str] = ()
) -> _Plan | None:
    plans: _Plans | None = getattr(dialect, _ATTRIBUTE, None)
    if plans is None:
        plans = {}
        setattr(dialect, _ATTRIBUTE, plans)
    key = (id(statement), tuple(columns))
    found = plans.get(key)
    if found is not None and found[0] is statement:
        return found[1]
    plan = _compile(dialect, statement, columns)
    if len(plans) >= MAX_PLANS:
        plans.clear()
    plans[key] = (statement, plan)  # the statement is kept: its id is not reused meanwhile
    return plan


def _compile(
    dialect: Dialect, statement: Select[Any] | Insert, columns: Sequence[str]
) -> _Plan | None:
    compiled = statement.compile(dialect=dialect, column_keys=list(columns) or None)
    if compiled.escaped_bind_names:
        return None  # SQLAlchemy renames such parameters for the driver: left to it
    binds = {
        name: bind.type.dialect_impl(dialect).bind_processor(dialect)
        for name, bind in compiled.binds.items()
    }
    keys = tuple(statement.selected_columns.keys()) if isinstance(statement, Select) else ()
    return _Plan(compiled, binds, keys)


def _results(connection: Connection, plan: _Plan, cursor: Any) -> tuple[Processor, ...]:
    statement = plan.compiled.statement
    assert isinstance(statement, Select)
    dialect = connection.dialect
    plan.results = tuple(
        column.type.dialect_impl(dialect).result_processor(dialect, described[1])
        for column, described in zip(statement.selected_columns, cursor.description, strict=True)
    )
    return plan.results
