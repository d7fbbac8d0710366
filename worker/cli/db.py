"""``saves db``: schema migrations of the SQL store, for the operator who deploys a new version."""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer
from sqlalchemy.engine import make_url

from activities.store import migrate
from activities.store.db import make_engine
from worker.runtime.settings import Settings

app = typer.Typer(name="db", help="The SQL store's schema: migrate it, see where it stands.", no_args_is_help=True)


def _where(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)


@app.command("upgrade")
def db_upgrade(
    revision: Annotated[str, typer.Argument(help="Target revision; the latest by default.")] = "head",
) -> None:
    """Apply the migrations the store lacks (idempotent; replicas may run it together)."""
    url = Settings().db_url

    async def work() -> str | None:
        engine = make_engine(url)
        try:
            await migrate.upgrade(engine, revision)
            return await migrate.current(engine)
        finally:
            await engine.dispose()

    typer.echo(f"{_where(url)}: at revision {asyncio.run(work())}")


@app.command("downgrade")
def db_downgrade(revision: Annotated[str, typer.Argument(help="Revision to go back to, or -1.")]) -> None:
    """Undo migrations down to ``revision`` (data in dropped columns and tables is lost)."""
    url = Settings().db_url

    async def work() -> str | None:
        engine = make_engine(url)
        try:
            await migrate.downgrade(engine, revision)
            return await migrate.current(engine)
        finally:
            await engine.dispose()

    typer.echo(f"{_where(url)}: at revision {asyncio.run(work())}")


@app.command("current")
def db_current() -> None:
    """The revision the store is at, and the latest one this version ships."""
    url = Settings().db_url

    async def work() -> str | None:
        engine = make_engine(url)
        try:
            return await migrate.current(engine)
        finally:
            await engine.dispose()

    at, latest = asyncio.run(work()), migrate.head()
    state = "up to date" if at == latest else "run `saves db upgrade`"
    typer.echo(f"{_where(url)}: at {at or 'nothing (empty store)'}, latest {latest} ({state})")
