"""The database: one engine per process, one session per request or job.

`session` is a scoped session: web requests and worker jobs each get their own and
`remove()` it when done (the Flask teardown and the job wrapper do that).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import DeclarativeBase, Session, scoped_session, sessionmaker


class Base(DeclarativeBase):
    pass


_factory = sessionmaker(expire_on_commit=False)
session: scoped_session[Session] = scoped_session(_factory)
_engine: Engine | None = None


def init_engine(url: str) -> Engine:
    """Binds the session to `url`, once per process (again only if the URL changes)."""
    global _engine
    if _engine is not None and str(_engine.url) == url:
        return _engine
    if _engine is not None:
        session.remove()
        _engine.dispose()
    if url.startswith("sqlite"):
        _engine = create_engine(url, connect_args={"timeout": 30})
        event.listen(_engine, "connect", _sqlite_pragmas)
    else:
        _engine = create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=10)
    _factory.configure(bind=_engine)
    return _engine


def get_engine() -> Engine:
    if _engine is None:
        raise RuntimeError("the database is not initialised (bot.db.init_engine)")
    return _engine


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # WAL lets the web app read while the worker writes; foreign keys are off by default.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


@contextmanager
def transaction() -> Iterator[Session]:
    """Commits on success, rolls back on error."""
    s = session()
    try:
        yield s
        s.commit()
    except BaseException:
        s.rollback()
        raise
