"""The Alembic migrations build exactly the schema the models describe, on both databases."""

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import MetaData, create_engine, inspect, text

from bridge.storage.db import INBOX_SCHEMA, make_engine, migrate, normalise_url
from bridge.storage.models import Base


def test_migrated_schema_matches_the_models(database_url):
    """On SQLite the inbox table is in its own attached file (bridge/storage/db.py)."""
    engine = make_engine(database_url)
    migrate(engine)
    where = INBOX_SCHEMA if engine.dialect.name == "sqlite" else None
    models = MetaData()
    for table in Base.metadata.tables.values():
        table.to_metadata(models, schema=where if table.name == "inbox" else None)
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={
            "include_schemas": True,
            "include_name": lambda name, kind, _: kind != "schema" or name in (None, where)})
        diff = compare_metadata(context, models)
    engine.dispose()
    assert diff == []


def test_upgrading_moves_waiting_sqlite_webhooks_into_the_inbox_file(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'bridge.db'}")
    migrate(engine, "0009_inbox_lz4")
    with engine.begin() as connection:
        connection.execute(text("INSERT INTO main.inbox (source, event_key, topic, headers, "
                                "received_at, attempts, error) VALUES ('s', 'waiting', '', "
                                "'{}', CURRENT_TIMESTAMP, 0, '')"))
    migrate(engine)
    with engine.connect() as connection:
        keys = connection.scalars(text(f"SELECT event_key FROM {INBOX_SCHEMA}.inbox")).all()
        left = connection.scalar(text("SELECT count(*) FROM main.sqlite_master "
                                      "WHERE name = 'inbox'"))
    engine.dispose()
    assert keys == ["waiting"] and left == 0


def test_every_delivery_has_a_unique_non_null_idempotency_key(database_url):
    engine = create_engine(normalise_url(database_url))
    migrate(engine)
    inspector = inspect(engine)
    column = {c["name"]: c for c in inspector.get_columns("deliveries")}["idempotency_key"]
    uniques = [u["column_names"] for u in inspector.get_unique_constraints("deliveries")]
    engine.dispose()
    assert column["nullable"] is False
    assert ["idempotency_key"] in uniques



def test_inbox_bodies_round_trip_lz4_compressed_on_postgresql(database_url):
    """pglz cost the backend a third more CPU per webhook INSERT than lz4 (migration 0009);
    SQLite does not compress. Either way the body comes back byte for byte."""
    engine = create_engine(normalise_url(database_url))
    migrate(engine)
    body = b'{"line_items": [' + b'{"sku": "A-1", "qty": 1}, ' * 800 + b"]}"
    with engine.begin() as connection:
        connection.execute(text("INSERT INTO inbox (source, event_key, topic, headers, body, "
                                "received_at, attempts, error) VALUES ('s', 'lz4-check', '', "
                                "'{}', :body, CURRENT_TIMESTAMP, 0, '')"), {"body": body})
        stored = connection.scalar(text("SELECT body FROM inbox WHERE event_key = 'lz4-check'"))
        method = None
        if connection.dialect.name == "postgresql":
            method = connection.scalar(text(
                "SELECT pg_column_compression(body) FROM inbox WHERE event_key = 'lz4-check'"))
    engine.dispose()
    assert bytes(stored) == body
    assert method == ("lz4" if engine.dialect.name == "postgresql" else None)
