"""SQL stores to run store tests on: a SQLite file, and a fresh PostgreSQL database when CI has one.

PostgreSQL comes from ``SAVES_TEST_POSTGRES_URL``; it is shared with other test runs, so every
store gets its own database (random name), dropped afterwards.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy.engine import make_url

POSTGRES_ENV = "SAVES_TEST_POSTGRES_URL"
BACKENDS = ["sqlite", "postgresql"]


def postgres_url() -> str | None:
    return os.environ.get(POSTGRES_ENV) or None


def _dsn(url: str) -> str:
    """The plain libpq-style URL asyncpg understands, from a SQLAlchemy URL."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


@asynccontextmanager
async def store_url(backend: str, tmp_path: Path) -> AsyncIterator[str]:
    """A SQLAlchemy URL of an empty store on ``backend``; skips PostgreSQL when it is not configured."""
    if backend == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'store.db'}"
        return
    admin = postgres_url()
    if admin is None:
        pytest.skip(f"PostgreSQL store tests need {POSTGRES_ENV} (CI sets it)")
    name = f"saves_test_{uuid.uuid4().hex[:12]}"
    conn = await asyncpg.connect(_dsn(admin))
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    try:
        yield make_url(admin).set(database=name).render_as_string(hide_password=False)
    finally:
        conn = await asyncpg.connect(_dsn(admin))
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await conn.close()
