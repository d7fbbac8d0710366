"""Alembic environment of the SQL store: SQLite or PostgreSQL, through the async drivers.

``saves db upgrade`` (and every start of the worker) hands a live connection in
``config.attributes["connection"]``; the ``alembic`` command line opens one from the URL its
caller passes (``alembic -x url=...``) or ``sqlalchemy.url``. The store never reads the worker's
settings: the caller knows which database it means.
"""

from __future__ import annotations

import asyncio
from typing import Any, Literal

from alembic import context
from alembic.autogenerate.api import AutogenContext
from sqlalchemy.engine import Connection

from activities.store.tables import Base, UtcDateTime

config = context.config
target_metadata = Base.metadata

MIGRATION_LOCK = 7_221_900_461
"""PostgreSQL advisory lock id: worker replicas starting together migrate one at a time."""


def _render_item(kind: str, obj: Any, autogen_context: AutogenContext) -> str | Literal[False]:
    """Write our UTC type as a plain timezone-aware DateTime, so migrations import only SQLAlchemy."""
    if kind == "type" and isinstance(obj, UtcDateTime):
        return "sa.DateTime(timezone=True)"
    return False


def _configure(**kwargs: Any) -> None:
    context.configure(target_metadata=target_metadata, compare_type=True, render_item=_render_item, **kwargs)


def _run(connection: Connection) -> None:
    _configure(connection=connection, render_as_batch=connection.dialect.name == "sqlite")
    with context.begin_transaction():
        if connection.dialect.name == "postgresql":
            connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK})")
        context.run_migrations()


def _url() -> str:
    url = context.get_x_argument(as_dictionary=True).get("url") or config.get_main_option("sqlalchemy.url")
    if not url:
        raise SystemExit(
            'no database URL: run e.g. `alembic -x url="$SAVES_DATABASE_URL" upgrade head` '
            "(or `-x url=sqlite+aiosqlite:///.saves/crm.db`), or use `saves db upgrade`"
        )
    return url


async def _run_with_own_engine() -> None:
    from activities.store.db import make_engine

    engine = make_engine(_url())
    try:
        async with engine.connect() as conn:
            await conn.run_sync(_run)
            await conn.commit()
    finally:
        await engine.dispose()


if context.is_offline_mode():
    _configure(url=_url(), literal_binds=True, dialect_opts={"paramstyle": "named"})
    with context.begin_transaction():
        context.run_migrations()
elif (given := config.attributes.get("connection")) is not None:
    _run(given)
else:
    asyncio.run(_run_with_own_engine())
