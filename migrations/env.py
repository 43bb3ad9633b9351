"""Alembic environment: uses the connection handed over by `api.migrate` when there is one."""

from alembic import context
from sqlalchemy import create_engine

from ingest import models as _ingest_models  # noqa: F401  (registers tables)
from retrieval import models as _retrieval_models  # noqa: F401
from tenancy import models as _tenancy_models  # noqa: F401
from tenancy.db import Base

target_metadata = Base.metadata


def run() -> None:
    """Run migrations online, on the given or a new connection."""
    connection = context.config.attributes.get("connection")
    if connection is not None:
        _migrate(connection)
        return
    engine = create_engine(context.config.get_main_option("sqlalchemy.url") or "")
    with engine.begin() as conn:
        _migrate(conn)


def _migrate(connection: object) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=True,
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


run()
