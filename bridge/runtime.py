"""One process's wiring: the loaded config, the database, Redis and the RQ queue."""

import os
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cached_property

from redis import Redis
from rq import Queue

from bridge import paths, settings
from bridge.embedded_redis import running_url
from bridge.storage.db import make_engine, make_sessionmaker


@dataclass
class Runtime:
    loaded: settings.Loaded

    @property
    def config(self) -> settings.Config:
        return self.loaded.config

    @cached_property
    def engine(self):
        return make_engine(self.config.storage.database_url or default_database_url())

    @cached_property
    def sessionmaker(self):
        return make_sessionmaker(self.engine)

    @cached_property
    def inbox_writer(self):
        """This process's group commit of inbox INSERTs (bridge/ingest.py)."""
        from bridge.ingest import insert_new
        from bridge.storage.groupcommit import GroupCommit

        return GroupCommit(self.engine, insert_new)

    @contextmanager
    def session(self):
        """A session whose transaction commits on success and rolls back on error."""
        with self.sessionmaker() as session, session.begin():
            yield session

    @property
    def redis_url(self) -> str:
        return (self.config.storage.redis_url or os.environ.get("REDIS_URL", "")
                or running_url(paths.var_dir() / "redis"))

    @cached_property
    def redis(self) -> Redis:
        if not self.redis_url:
            raise RuntimeError("REDIS_URL is not set: `bridge run` starts an embedded Redis")
        return Redis.from_url(self.redis_url, socket_connect_timeout=1, socket_timeout=5,
                              health_check_interval=30)

    @cached_property
    def queue(self) -> Queue:
        return Queue(self.config.worker.queue, connection=self.redis)

    def queue_or_none(self) -> Queue | None:
        """The queue, or None when no Redis is configured (the web tier works without it)."""
        return self.queue if self.redis_url else None

    def mask(self, text: str) -> str:
        """Hide every value that came from the environment (secrets, tokens) in text."""
        for secret in sorted(self.loaded.secret_values, key=len, reverse=True):
            text = text.replace(secret, "***")
        return text


def default_database_url() -> str:
    return f"sqlite:///{paths.var_dir() / 'bridge.db'}"


_current: Runtime | None = None


def build(path=None) -> Runtime:
    """Load var/bridge.env and the config file into a Runtime."""
    paths.load_env_file()
    return Runtime(settings.load(path))


def current() -> Runtime:
    """This process's Runtime, built from the environment on first use (RQ jobs call this)."""
    global _current
    if _current is None:
        _current = build()
    return _current


def install(runtime: Runtime) -> Runtime:
    global _current
    _current = runtime
    return runtime
