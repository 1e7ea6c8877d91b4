"""The Alembic migrations build exactly the schema the models describe, on both databases."""

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect

from bridge.storage.db import migrate, normalise_url
from bridge.storage.models import Base


def test_migrated_schema_matches_the_models(database_url):
    engine = create_engine(normalise_url(database_url))
    migrate(engine)
    with engine.connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    engine.dispose()
    assert diff == []


def test_every_delivery_has_a_unique_non_null_idempotency_key(database_url):
    engine = create_engine(normalise_url(database_url))
    migrate(engine)
    inspector = inspect(engine)
    column = {c["name"]: c for c in inspector.get_columns("deliveries")}["idempotency_key"]
    uniques = [u["column_names"] for u in inspector.get_unique_constraints("deliveries")]
    engine.dispose()
    assert column["nullable"] is False
    assert ["idempotency_key"] in uniques
