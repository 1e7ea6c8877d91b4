"""Engines and sessions: SQLite in WAL mode with a busy timeout, or PostgreSQL via psycopg 3.

On SQLite the inbox table lives in a file of its own beside the main one (`bridge-inbox.db` for
`bridge.db`, attached as INBOX_SCHEMA to every connection; SQLite finds an unqualified table in
attached files too). SQLite locks writes per file: with one file, a webhook's INSERT waited
8-110 ms whenever a worker's delivery transaction held the lock, and the p99 at 500 webhooks/s
swung between 13 and 97 ms. Migration 0010 moves the table there.
"""

import os
from pathlib import Path

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import sessionmaker

MIGRATIONS = Path(__file__).parent / "migrations"
INBOX_SCHEMA = "inbox_db"


def normalise_url(url: str) -> str:
    """Accept the URLs hosts hand out (postgres://, postgresql://) and use psycopg 3."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


def make_engine(url: str) -> Engine:
    url = normalise_url(url)
    if url.startswith("sqlite"):
        _ensure_sqlite_dir(url)
        engine = create_engine(url, connect_args={"timeout": 15}, pool_pre_ping=False)
        event.listen(engine, "connect", _sqlite_pragmas(inbox_path(engine.url.database)))
        return engine
    # No pre-ping (a round trip per checkout, half a webhook's time under load): a connection
    # that died fails its request with 503, and SQLAlchemy then drops the whole pool.
    return create_engine(url, pool_size=8, max_overflow=8, pool_recycle=1800,
                         connect_args={"connect_timeout": 5})


def _ensure_sqlite_dir(url: str) -> None:
    path = url.split("///", 1)[-1]
    if path and path != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True, mode=0o700)


def inbox_path(database: str | None) -> Path | None:
    """The inbox's SQLite file for a main file; None for an in-memory database."""
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    path = Path(database)
    return path.with_name(f"{path.stem}-inbox{path.suffix}")


def _sqlite_pragmas(inbox: Path | None):
    def on_connect(dbapi_connection, _record) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA busy_timeout=15000")
        cursor.execute("PRAGMA foreign_keys=ON")
        schemas = ["main"]
        if inbox is not None:
            cursor.execute(f"ATTACH DATABASE ? AS {INBOX_SCHEMA}", (str(inbox),))
            schemas.append(INBOX_SCHEMA)
        for schema in schemas:
            cursor.execute(f"PRAGMA {schema}.journal_mode=WAL")
            cursor.execute(f"PRAGMA {schema}.synchronous=NORMAL")
        cursor.close()
    return on_connect


def make_sessionmaker(engine: Engine) -> sessionmaker:
    return sessionmaker(engine, expire_on_commit=False)


def migrate(engine: Engine, revision: str = "head") -> None:
    """Bring the schema to an Alembic revision, the newest by default."""
    from alembic import command  # only `bridge migrate` and the tests: ~10 MB the others spare
    from alembic.config import Config as AlembicConfig

    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as connection:
        cfg.attributes["connection"] = connection
        command.upgrade(cfg, revision)
    _restrict_sqlite_file(engine)


def _restrict_sqlite_file(engine: Engine) -> None:
    path = engine.url.database
    if engine.url.get_backend_name() == "sqlite":
        for file in (path, inbox_path(path)):
            if file and os.path.exists(file):
                os.chmod(file, 0o600)
