"""Schema migrations of the SQL store (Alembic), run by ``saves db upgrade`` and at every start.

A change to ``tables.py`` needs a new migration:
``alembic -x url=... revision --autogenerate -m "what changed"`` from the repository root, then review it.
``tests/test_migrations.py`` fails while the migrations and the tables disagree.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

MIGRATIONS = Path(__file__).with_name("migrations")
INITIAL = "0001"
"""The first revision: the schema ``create_all`` made before migrations existed."""


def alembic_config(url: str | None = None) -> Config:
    """Alembic's configuration without an ini file, so an installed package can migrate."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    if url:
        config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def head() -> str:
    heads = ScriptDirectory.from_config(alembic_config()).get_heads()
    if len(heads) != 1:
        raise RuntimeError(f"the migrations have {len(heads)} heads {heads}; merge them with `alembic merge heads`")
    return heads[0]


def _upgrade(conn: Connection, revision: str) -> None:
    config = alembic_config()
    config.attributes["connection"] = conn
    tables = set(inspect(conn).get_table_names())
    if "alembic_version" not in tables and "accounts" in tables:
        command.stamp(config, INITIAL)  # a store made by create_all before migrations existed
    command.upgrade(config, revision)


async def upgrade(engine: AsyncEngine, revision: str = "head") -> None:
    """Bring the store to ``revision``; a store already there is left as it is."""
    async with engine.connect() as conn:
        await conn.run_sync(_upgrade, revision)
        await conn.commit()


async def downgrade(engine: AsyncEngine, revision: str) -> None:
    def run(conn: Connection) -> None:
        config = alembic_config()
        config.attributes["connection"] = conn
        command.downgrade(config, revision)

    async with engine.connect() as conn:
        await conn.run_sync(run)
        await conn.commit()


async def current(engine: AsyncEngine) -> str | None:
    """The revision the store is at, or None for an empty store."""
    async with engine.connect() as conn:
        return await conn.run_sync(lambda c: MigrationContext.configure(c).get_current_revision())
