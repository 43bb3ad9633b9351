"""The Alembic migrations produce exactly the schema the models describe."""

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from api import migrate
from ingest import models as _ingest  # noqa: F401
from retrieval import models as _retrieval  # noqa: F401
from tenancy.db import Base, make_engine


def test_migrations_match_the_models(database_url: str) -> None:
    engine = make_engine(database_url)
    migrate.upgrade(engine)
    with engine.connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    current = migrate.is_current(engine)
    engine.dispose()
    assert diff == []
    assert current
