"""SQLAlchemy base, column types and engine helpers shared by every package."""

import enum
import functools
import json
from datetime import UTC, datetime
from typing import Any, ClassVar, cast

import orjson
from sqlalchemy import DateTime, Engine, Enum, Insert, Table, create_engine, inspect
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, sessionmaker
from sqlalchemy.orm import Session as Session
from sqlalchemy.types import TypeDecorator

from tenancy import driver, sqlite

SessionFactory = sessionmaker[Session]


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC timestamps on every backend (SQLite drops the offset)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Store UTC."""
        if value is None:
            return None
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Read back as aware UTC."""
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    """Declarative base of every table."""

    type_annotation_map: ClassVar[dict[Any, Any]] = {datetime: UTCDateTime()}


def text_enum(kind: type[enum.StrEnum], length: int = 16) -> Enum:
    """A column type for a string enum: stored as its value in a VARCHAR, no database type."""
    return Enum(
        kind,
        native_enum=False,
        create_constraint=False,
        length=length,
        values_callable=lambda members: [member.value for member in members],
    )


def utcnow() -> datetime:
    """The current time, aware, in UTC."""
    return datetime.now(UTC)


def make_engine(url: str) -> Engine:
    """An engine for `url`; SQLite gets WAL, foreign keys, a busy timeout and queued writers."""
    if url.startswith("sqlite"):
        return sqlite.engine(url, json_serializer=json_text)
    # hide_parameters: an error logs its statement, never a tenant's query text or names.
    return create_engine(
        url,
        pool_pre_ping=True,
        pool_size=10,
        max_overflow=20,
        hide_parameters=True,
        json_serializer=json_text,
    )


def json_text(value: object) -> str:
    """A JSON column's text (orjson: every search stores its hits and receipt as JSON, and
    the standard library's encoder was most of that write's cost). Only the value counts:
    it reads back the same, and nothing hashes the stored text. What orjson refuses (an
    integer beyond 64 bits) is written by the standard library, as before. orjson writes a
    NaN or an infinity as null: a search keeps no hit without a finite score
    (`retrieval.search`), so none reaches a record or an audit event."""
    try:
        return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()
    except TypeError:
        return json.dumps(value)


def insert_row(session: Session, row: object) -> None:
    """INSERT `row` as one statement, skipping the ORM's unit of work; `row` stays detached.

    For the rows every search writes (its record, its audit event): a flush of one new
    object spent most of its time in unit-of-work bookkeeping. Every column, the primary
    key included, must already be set on `row`: Python-side defaults are not applied.
    """
    mapper = inspect(row).mapper
    if None in mapper.primary_key_from_instance(row):
        raise ValueError(f"{type(row).__name__} needs its primary key set before insert_row")
    values = {prop.columns[0].key: getattr(row, prop.key) for prop in mapper.column_attrs}
    # What the session holds goes first (the row may refer to it), then a Core INSERT on
    # the session's connection's driver (its transaction; `tenancy.driver`).
    session.flush()
    driver.insert(session.connection(), _insert_of(cast(Table, mapper.local_table)), values)


@functools.cache
def _insert_of(table: Table) -> Insert:
    return table.insert()


def session_factory(engine: Engine) -> SessionFactory:
    """The one session factory of a process."""
    return sessionmaker(engine, expire_on_commit=False)
