"""``saves up``, ``saves worker`` and ``saves search-attributes``: run the system."""

from __future__ import annotations

import asyncio
import signal
from datetime import timedelta
from typing import Annotated

import typer

from playbook_defs.demo_clock import DEFAULT_SPEED, write_demo_playbooks
from playbook_defs.durations import clock_words
from playbook_defs.loader import load_playbooks
from worker.api.embedded import embedded_codec, start_api
from worker.cli.common import err, out, run
from worker.demo import DEMO_PLAYBOOK_DIR, load_demo_crm, play_demo, start_demo_saves
from worker.runtime.codec import ensure_key_file
from worker.runtime.connect import connect
from worker.runtime.crm_sync import ensure_crm_sync_schedule
from worker.runtime.devserver import DevServer
from worker.runtime.logs import configure_logging
from worker.runtime.runner import WorkerTuning, build_services, build_worker
from worker.runtime.save_client import SaveClient
from worker.runtime.schedule import ensure_scan_schedule
from worker.runtime.settings import DEFAULT_TEMPORAL_ADDRESS, Settings
from worker.runtime.visibility import SearchAttributesMissing, ensure_search_attributes, register_search_attributes

app = typer.Typer()


async def _until_stopped() -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()


@app.command()
def up(
    demo: Annotated[
        bool, typer.Option("--demo", help="Load the demo CRM and open a save of each playbook, on the demo clock.")
    ] = False,
    demo_speed: Annotated[
        int,
        typer.Option(
            min=1,
            help="How many times faster the demo clock runs than real time (1440: one demo day per real minute).",
        ),
    ] = DEFAULT_SPEED,
    port: Annotated[
        int | None,
        typer.Option(
            min=1,
            max=65535,
            help="Temporal gRPC port of the embedded server (default: the port of SAVES_TEMPORAL_ADDRESS when "
            "it names this machine, else 7233).",
        ),
    ] = None,
) -> None:
    """Start everything on this machine: a Temporal dev server with its UI, the worker and the API."""
    settings = Settings()
    configure_logging(settings.log_format or "console", settings.log_level, log_file=settings.data_dir / "saves.log")
    port = embedded_port(settings.temporal_address, port)
    if _local_port(settings.temporal_address) is None:
        err.print(
            f"note: SAVES_TEMPORAL_ADDRESS is {settings.temporal_address}; `saves up` runs its own Temporal on "
            f"localhost:{port}, and commands run with that variable set go to {settings.temporal_address}",
            highlight=False,
            soft_wrap=True,
        )
    try:
        run(_up(settings, demo, port, demo_speed))
    except SearchAttributesMissing as exc:
        raise _refuse(exc) from None


LOCAL_HOSTS = ("localhost", "127.0.0.1")


def _local_port(address: str) -> int | None:
    """The port of an address on this machine (``localhost:7300``); None for any other address."""
    host, _, port = address.rpartition(":")
    ok = host in LOCAL_HOSTS and port.isdigit() and 0 < int(port) < 65536
    return int(port) if ok else None


def embedded_port(address: str, given: int | None) -> int:
    """The port ``saves up`` serves Temporal on: ``--port``; else the port of ``SAVES_TEMPORAL_ADDRESS`` when
    it names this machine, so the commands run in the same shell find the server; else 7233."""
    if given is not None:
        return given
    local = _local_port(address)
    return local if local is not None else int(DEFAULT_TEMPORAL_ADDRESS.rpartition(":")[2])


async def _up(settings: Settings, demo: bool, port: int, speed: int = DEFAULT_SPEED) -> None:
    if demo:  # the demo's saves run on scaled copies of the playbooks; the files themselves are untouched
        copies = write_demo_playbooks(settings.data_dir / DEMO_PLAYBOOK_DIR, speed, settings.playbook_dir)
        settings = settings.model_copy(update={"playbook_dir": copies})
    key_path = ensure_key_file(settings)
    settings, codec_endpoint = embedded_codec(settings)
    server = DevServer(settings.data_dir, port=port, ui_port=settings.ui_port, codec_endpoint=codec_endpoint)
    if key_path is not None:
        out.print(f"Payload key: {key_path} (customer data is encrypted before it reaches Temporal)", soft_wrap=True)
    out.print(f"Starting Temporal (state in {settings.data_dir / 'temporal.db'}) ...")
    await server.start()
    settings = settings.model_copy(update={"temporal_address": server.address})
    services = None
    try:
        client = await connect(settings)
        await ensure_search_attributes(client)
        await ensure_scan_schedule(client, settings.task_queue, settings.playbook_dir)
        await ensure_crm_sync_schedule(client, settings.task_queue, settings.crm_sync_every)
        services = await build_services(settings)
        worker = build_worker(client, settings.task_queue, services.activities(), WorkerTuning.from_settings(settings))
        saves = SaveClient(
            client, settings.task_queue, load_playbooks(settings.playbook_dir), services.crm_activities.crm
        )
        async with worker, start_api(settings, saves, services.engine, out) as api_url:
            out.print("[bold green]Saves are running.[/bold green]")
            out.print(
                f"  Temporal UI: {server.ui_url}/namespaces/{settings.temporal_namespace}/workflows", soft_wrap=True
            )
            out.print(f"  API: {api_url} (OpenAPI docs at {api_url}/docs)", soft_wrap=True)
            if server.address != DEFAULT_TEMPORAL_ADDRESS:
                out.print(
                    "  Not the default address: in other terminals first run\n"
                    f"    export SAVES_TEMPORAL_ADDRESS={server.address}",
                    soft_wrap=True,
                    highlight=False,
                )
            out.print("Filter it with the queries from `saves views` (e.g. saves past the 48-hour rule).")
            player = None
            if demo:
                await load_demo_crm(services.engine)
                done = await start_demo_saves(saves, speed)
                out.print(
                    f"[bold]Demo clock: {clock_words(speed)}.[/bold] The demo saves run on copies of the playbooks"
                    f" in {settings.playbook_dir} with every duration divided by {speed}; the playbook files are"
                    " unchanged.",
                    soft_wrap=True,
                    highlight=False,
                )
                out.print(f"Demo: six saves open ({len(done)} moved along). Try: saves show northwind", highlight=False)
                for line in done:
                    out.print(f"  [demo day 0] {line}", highlight=False, markup=False, soft_wrap=True)
                out.print(
                    f"Within {_real(timedelta(hours=48), speed)} saves break their first-contact rule"
                    " (saves list --sla-broken); escalations to the executive sponsor follow"
                    " (saves list --tier enterprise --escalated 2).",
                    highlight=False,
                    soft_wrap=True,
                )
                player = asyncio.create_task(
                    play_demo(
                        saves, speed, lambda line: out.print(f"  {line}", highlight=False, markup=False, soft_wrap=True)
                    )
                )
            out.print(f"Logs: {settings.data_dir / 'saves.log'}. Press Ctrl-C to stop.")
            await _until_stopped()
            if player is not None:
                player.cancel()
            out.print("Stopping ...")
    finally:
        if services is not None:
            await services.engine.dispose()
        server.stop()


def _real(demo_time: timedelta, speed: int) -> str:
    seconds = demo_time.total_seconds() / speed
    return f"{seconds / 60:g} minutes" if seconds >= 60 else f"{seconds:.0f} seconds"


@app.command()
def worker() -> None:
    """Run a worker against the configured Temporal cluster (production)."""
    settings = Settings()
    configure_logging(settings.log_format or "json", settings.log_level)
    try:
        run(_worker(settings))
    except SearchAttributesMissing as exc:
        raise _refuse(exc) from None


def _refuse(exc: SearchAttributesMissing) -> typer.Exit:
    """One line, however wide the terminal: which attributes are missing and the command that adds them."""
    err.print(f"[red]error:[/red] {exc}", highlight=False, soft_wrap=True)
    return typer.Exit(2)


async def _worker(settings: Settings) -> None:
    client = await connect(settings)
    check = await ensure_search_attributes(client)  # refuses to start when one is missing for good
    if check.added:
        err.print(f"registered search attributes: {', '.join(check.added)}", highlight=False)
    if check.unchecked:
        err.print(
            f"note: could not list the namespace's search attributes ({check.unchecked}); make sure"
            " `saves search-attributes` ran for this release",
            highlight=False,
            soft_wrap=True,
        )
    services = await build_services(settings)
    try:
        tuning = WorkerTuning.from_settings(settings)
        async with build_worker(client, settings.task_queue, services.activities(), tuning):
            out.print(
                f"Worker polling task queue {settings.task_queue!r} on "
                f"{client.service_client.config.target_host} ({client.namespace})"
            )
            await _until_stopped()
    finally:
        await services.engine.dispose()


@app.command("search-attributes")
def search_attributes() -> None:
    """Register the save search attributes on the configured namespace (idempotent)."""

    async def work() -> list[str]:
        return await register_search_attributes(await connect(Settings()))

    added = run(work())
    out.print(f"registered: {', '.join(added)}" if added else "all search attributes already registered")
