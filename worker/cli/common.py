"""What every ``saves`` command shares: the consoles, the error exit and a connected save client."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable
from contextlib import asynccontextmanager
from typing import Annotated, Any, TypeVar

import typer
from pydantic import BaseModel, ValidationError
from rich.console import Console

from activities.save_history import HistoryError
from activities.store.crm_import import CrmImportError
from activities.store.db import create_schema, make_engine
from activities.store.sql_crm import SqlCrm
from playbook_defs.errors import describe
from playbook_defs.loader import PlaybookError, load_playbooks
from worker.runtime.codec import EncryptionSettingsError, PayloadKeyError
from worker.runtime.connect import ConnectionSettingsError, connect
from worker.runtime.crm_choice import CrmSettingsError, make_crm
from worker.runtime.devserver import DevServerError
from worker.runtime.save_client import SaveClient, SaveError
from worker.runtime.settings import Settings

T = TypeVar("T")
M = TypeVar("M", bound=BaseModel)

out = Console()
err = Console(stderr=True)

Account = Annotated[str, typer.Argument(help="The account id, as in the CRM.")]
By = Annotated[str | None, typer.Option("--by", help="Who is doing this (recorded on the save).")]


def fail(message: str, code: int = 2) -> typer.Exit:
    err.print(f"[red]error:[/red] {message}", highlight=False)
    return typer.Exit(code)


def valid(model: type[M], **fields: Any) -> M:
    """Build a request from a command's options; a bad value is one line naming the field."""
    try:
        return model(**fields)
    except ValidationError as exc:
        raise fail("; ".join(describe(exc, None))) from None


def run(work: Awaitable[T]) -> T:
    """Run a coroutine; turn the errors a person can act on into one line and an exit code."""
    try:
        return asyncio.run(work)  # type: ignore[arg-type]
    except SaveError as exc:
        raise fail(str(exc)) from None
    except ValidationError as exc:
        raise fail("; ".join(describe(exc, None))) from None
    except (
        PlaybookError,
        CrmImportError,
        DevServerError,
        ConnectionSettingsError,
        CrmSettingsError,
        HistoryError,
        EncryptionSettingsError,
        PayloadKeyError,
    ) as exc:
        raise fail(str(exc)) from None
    except RuntimeError as exc:
        if "connect" in str(exc).lower():
            settings = Settings()
            raise fail(
                f"cannot reach Temporal at {settings.temporal_address}; "
                "start it with `saves up` or set SAVES_TEMPORAL_ADDRESS",
                1,
            ) from None
        raise


@asynccontextmanager
async def save_client(settings: Settings | None = None) -> AsyncIterator[SaveClient]:
    settings = settings or Settings()
    engine = make_engine(settings.db_url)
    try:
        await create_schema(engine)
        client = await connect(settings)
        yield SaveClient(
            client, settings.task_queue, load_playbooks(settings.playbook_dir), make_crm(settings, SqlCrm(engine))
        )
    finally:
        await engine.dispose()


async def act(account: str, update: Any, request: Any) -> Any:
    async with save_client() as saves:
        return await saves.update(account, update, request)
