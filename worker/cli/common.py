"""What every ``saves`` command shares: the consoles, the error exit and a connected save client."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator, Awaitable
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer
from pydantic import BaseModel, ValidationError
from rich.console import Console

from activities.crm import ListsAccounts
from playbook_defs.errors import describe
from playbook_defs.loader import PlaybookLibrary
from worker.runtime.connect import connect
from worker.runtime.save_client import SaveClient, SaveError
from worker.runtime.settings import Settings

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine

    from activities.crm import CrmAdapter
    from workflows.contracts import AccountSnapshot

T = TypeVar("T")
M = TypeVar("M", bound=BaseModel)

out = Console()
err = Console(stderr=True)

Account = Annotated[str, typer.Argument(help="The account id, as in the CRM.")]
By = Annotated[str | None, typer.Option("--by", help="Who is doing this (recorded on the save).")]


def fail(message: str, code: int = 2) -> typer.Exit:
    err.print(f"[red]error:[/red] {message}", highlight=False, soft_wrap=True)  # one line, for grep and logs
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
    except Exception as exc:
        if isinstance(exc, readable_errors()):
            raise fail(str(exc)) from None
        if isinstance(exc, RuntimeError) and "connect" in str(exc).lower():
            settings = Settings()
            raise fail(
                f"cannot reach Temporal at {settings.temporal_address}; "
                "start it with `saves up` or set SAVES_TEMPORAL_ADDRESS",
                1,
            ) from None
        raise


READABLE_ERRORS: dict[str, tuple[str, ...]] = {
    "playbook_defs.loader": ("PlaybookError",),
    "activities.store.crm_import": ("CrmImportError",),
    "activities.save_history": ("HistoryError",),
    "worker.runtime.devserver": ("DevServerError",),
    "worker.runtime.connect": ("ConnectionSettingsError",),
    "worker.runtime.crm_choice": ("CrmSettingsError",),
    "worker.runtime.codec": ("EncryptionSettingsError", "PayloadKeyError"),
}
"""Module -> the errors it raises whose message tells a person what to fix (printed as one line, exit code 2)."""


def readable_errors() -> tuple[type[Exception], ...]:
    """The :data:`READABLE_ERRORS` of the modules this command imported. Only an imported module can have
    raised one, so a command never imports the CRM importer or the history reader just to name their errors."""
    found: list[type[Exception]] = []
    for module_name, names in READABLE_ERRORS.items():
        module = sys.modules.get(module_name)
        if module is not None:
            found.extend(getattr(module, name) for name in names)
    return tuple(found)


@asynccontextmanager
async def save_client(settings: Settings | None = None, *, starts_saves: bool = False) -> AsyncIterator[SaveClient]:
    """A connected client. Only one that ``starts_saves`` checks the store's schema and loads the
    playbooks (to route triggers); reading a save or acting on it needs neither, and opens the CRM
    only to say that an account has no save (or does not exist)."""
    settings = settings or Settings()
    if not starts_saves:
        crm = _CrmWhenAsked(settings)
        try:
            yield SaveClient(await connect(settings), settings.task_queue, _NO_PLAYBOOKS, crm)
        finally:
            await crm.close()
        return
    from activities.store.db import create_schema, make_engine
    from activities.store.sql_crm import SqlCrm
    from playbook_defs.loader import load_playbooks
    from worker.runtime.crm_choice import make_crm

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


_NO_PLAYBOOKS = PlaybookLibrary({})


class _CrmWhenAsked:
    """The CRM of a client that reads saves and acts on them. Those never need it: it is opened (with
    SQLAlchemy and the store's schema check) only when a missing save calls for the account to be looked up."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._engine: AsyncEngine | None = None
        self._crm: CrmAdapter | None = None

    async def _opened(self) -> CrmAdapter:
        if self._crm is None:
            from activities.store.db import create_schema, make_engine
            from activities.store.sql_crm import SqlCrm
            from worker.runtime.crm_choice import make_crm

            self._engine = make_engine(self._settings.db_url)
            await create_schema(self._engine)
            self._crm = make_crm(self._settings, SqlCrm(self._engine))
        return self._crm

    async def get_account(self, account_id: str) -> AccountSnapshot | None:
        return await (await self._opened()).get_account(account_id)

    async def account_ids(self) -> list[str]:
        crm = await self._opened()
        return await crm.account_ids() if isinstance(crm, ListsAccounts) else []

    async def close(self) -> None:
        if self._engine is not None:
            await self._engine.dispose()

    def __getattr__(self, name: str) -> Any:
        raise RuntimeError(f"this save client reads saves and acts on them; it does not use the CRM's {name}")
