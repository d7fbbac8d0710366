"""The migrations build exactly the schema the ORM tables describe, on SQLite and PostgreSQL.

If this fails after you changed ``activities/store/tables.py``: add a migration with
``alembic -x url=... revision --autogenerate -m "what changed"`` (repository root), review it, commit it.
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection

from activities.store import migrate
from activities.store.db import make_engine
from activities.store.tables import Base
from tests.stores import BACKENDS, store_url

ROOT = Path(__file__).resolve().parents[1]


def _differences(conn: Connection) -> list[Any]:
    context = MigrationContext.configure(conn, opts={"compare_type": True})
    return [d for d in compare_metadata(context, Base.metadata) if not _ignorable(d)]


def _ignorable(diff: Any) -> bool:
    return isinstance(diff, tuple) and diff[0] == "remove_table" and diff[1].name == "alembic_version"


def test_one_head() -> None:
    """Two migrations with the same parent (two branches landing) must be merged."""
    assert migrate.head()


@pytest.mark.parametrize("backend", BACKENDS)
async def test_migrations_match_the_tables(backend: str, tmp_path: Path) -> None:
    async with store_url(backend, tmp_path) as url:
        engine = make_engine(url)
        try:
            await migrate.upgrade(engine)
            assert await migrate.current(engine) == migrate.head()
            async with engine.connect() as conn:
                diff = await conn.run_sync(_differences)
            assert diff == [], (
                "tables.py and the migrations disagree; run "
                f"`alembic revision --autogenerate -m '...'` and commit the new migration: {diff}"
            )
        finally:
            await engine.dispose()


@pytest.mark.parametrize("backend", BACKENDS)
async def test_downgrade_to_nothing_and_back(backend: str, tmp_path: Path) -> None:
    async with store_url(backend, tmp_path) as url:
        engine = make_engine(url)
        try:
            await migrate.upgrade(engine)
            await migrate.downgrade(engine, "base")
            async with engine.connect() as conn:
                left = await conn.run_sync(lambda c: set(inspect(c).get_table_names()))
            assert left <= {"alembic_version"}
            await migrate.upgrade(engine)
            assert await migrate.current(engine) == migrate.head()
        finally:
            await engine.dispose()


async def test_a_store_made_before_migrations_is_adopted(tmp_path: Path) -> None:
    """A ``.saves/crm.db`` created with ``create_all`` keeps its data and joins the migrations."""
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'old.db'}")
    try:
        await migrate.upgrade(engine, migrate.INITIAL)  # what create_all used to make
        async with engine.begin() as conn:
            await conn.execute(text("DROP TABLE alembic_version"))
            await conn.execute(
                text(
                    "INSERT INTO accounts (id, name, tier, arr, risk_status, attributes) "
                    "VALUES ('acme', 'Acme', 'growth', 1000, 'green', '{}')"
                )
            )
        await migrate.upgrade(engine)
        assert await migrate.current(engine) == migrate.head()
        async with engine.connect() as conn:
            assert (await conn.execute(text("SELECT name FROM accounts"))).scalar() == "Acme"
    finally:
        await engine.dispose()


async def test_replicas_starting_together_migrate_one_at_a_time(tmp_path: Path) -> None:
    """Worker replicas all migrate at start; on PostgreSQL an advisory lock serialises them."""
    async with store_url("postgresql", tmp_path) as url:
        env = {**os.environ, "PYTHONPATH": str(ROOT), "SAVES_DATABASE_URL": url}
        runs = [
            await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "worker.cli",
                "db",
                "upgrade",
                env=env,
                cwd=tmp_path,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT,
            )
            for _ in range(3)
        ]
        outputs = [(await run.communicate())[0].decode() for run in runs]
        assert [run.returncode for run in runs] == [0, 0, 0], outputs
        engine = make_engine(url)
        try:
            assert await migrate.current(engine) == migrate.head()
        finally:
            await engine.dispose()
