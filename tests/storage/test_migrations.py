"""The Alembic migrations build exactly the schema the models describe, on both databases."""

import os

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect, text

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


@pytest.mark.skipif(not os.environ.get("TEST_DATABASE_URL"), reason="PostgreSQL only: SQLite "
                    "does not compress")
def test_inbox_bodies_are_compressed_with_lz4_on_postgresql(postgres_url):
    """pglz cost the backend a third more CPU per webhook INSERT than lz4 (migration 0009)."""
    engine = create_engine(postgres_url)
    with engine.connect() as connection:
        method = connection.scalar(text(
            "SELECT attcompression FROM pg_attribute "
            "WHERE attrelid = 'inbox'::regclass AND attname = 'body'"))
        connection.execute(text("INSERT INTO inbox (source, event_key, topic, headers, body, "
                                "received_at, attempts, error) VALUES ('s', 'lz4-check', '', "
                                "'{}', :body, now(), 0, '')"), {"body": b"x" * 20_000})
        used = connection.scalar(text(
            "SELECT pg_column_compression(body) FROM inbox WHERE event_key = 'lz4-check'"))
        connection.rollback()
    engine.dispose()
    assert (method, used) == ("l", "lz4")
