"""Serving the API with uvicorn: alone (``saves api``) or inside ``saves up``."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import uvicorn
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine

from activities.store.db import create_schema, make_engine
from activities.store.idempotency import IdempotencyStore
from activities.store.sql_crm import SqlCrm
from playbook_defs.loader import load_playbooks
from worker.api.app import create_app
from worker.api.codec import CodecAccess
from worker.runtime.codec import data_converter
from worker.runtime.connect import connect
from worker.runtime.crm_choice import make_crm
from worker.runtime.save_client import SaveClient
from worker.runtime.settings import Settings


class _EmbeddedServer(uvicorn.Server):
    """A uvicorn server that leaves Ctrl-C to ``saves up``, which stops it with everything else."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def port_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return False
        return True


def any_free_port(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


@dataclass
class RunningApi:
    url: str
    server: uvicorn.Server
    task: asyncio.Task[None]
    moved: bool
    """True if the configured port was taken and another one was chosen."""

    async def stop(self) -> None:
        self.server.should_exit = True
        with contextlib.suppress(asyncio.CancelledError):
            await self.task


async def start_embedded(app: FastAPI, host: str, port: int) -> RunningApi:
    """Serve ``app`` in this event loop; a taken port is replaced by a free one (``moved``)."""
    moved = not port_free(host, port)
    if moved:
        port = any_free_port(host)
    server = _EmbeddedServer(uvicorn.Config(app, host=host, port=port, log_level="warning", lifespan="off"))
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()  # raises what stopped it
            raise RuntimeError(f"the API could not start on {host}:{port}")
        await asyncio.sleep(0.05)
    return RunningApi(f"http://{host}:{port}", server, task, moved)


async def forget_old_answers(engine: AsyncEngine, days: int) -> int:
    """Drop remembered API answers older than ``days``, at every start."""
    return await IdempotencyStore(engine).forget_before(datetime.now(UTC) - timedelta(days=days))


def production_app(settings: Settings, secrets: list[str]) -> FastAPI:
    """The app ``saves api`` serves: it connects to Temporal and the store when it starts."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = make_engine(settings.db_url)
        try:
            await create_schema(engine)
            await forget_old_answers(engine, settings.api_remember_days)
            client = await connect(settings)
            app.state.engine = engine
            app.state.saves = SaveClient(
                client, settings.task_queue, load_playbooks(settings.playbook_dir), make_crm(settings, SqlCrm(engine))
            )
            yield
        finally:
            await engine.dispose()

    return create_app(
        secrets=secrets,
        max_body=settings.api_max_body,
        lifespan=lifespan,
        hubspot_app_secret=settings.hubspot_secret,
        hubspot_webhook_url=settings.hubspot_webhook_url,
        codec=data_converter(settings).payload_codec,
        codec_access=CodecAccess.from_settings(settings),
        require_v2=settings.webhook_require_v2,
    )
