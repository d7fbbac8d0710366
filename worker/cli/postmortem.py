"""``saves postmortem`` and ``saves report``: one save's story, and the whole program's figures."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from temporalio.client import Client

from activities.store.archive import Archive
from activities.store.db import create_schema, make_engine
from worker.cli.common import err, fail, out, run
from worker.reporting.pages import HOW_WE_COMPARE, contact_answer, postmortem_html, postmortem_text, report_html
from worker.reporting.postmortem_source import postmortems, split_target
from worker.reporting.report import Filters, SaveReport, build_report, report_csv
from worker.runtime.codec import data_converter
from worker.runtime.connect import connect
from worker.runtime.logs import configure_logging
from worker.runtime.save_client import SaveError
from worker.runtime.settings import Settings
from workflows.postmortem import PostMortem

app = typer.Typer()


class Format(StrEnum):
    TEXT = "text"
    JSON = "json"
    HTML = "html"
    CSV = "csv"


class PostmortemFormat(StrEnum):
    """What ``saves postmortem`` writes: one save's story has no table to put in a CSV."""

    TEXT = "text"
    JSON = "json"
    HTML = "html"


def _write(text: str, path: Path | None, default: str | None) -> None:
    """Print to stdout, or write a file (HTML always goes to a file a browser can open)."""
    target = path or (Path(default) if default else None)
    if target is None:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text, encoding="utf-8")
    out.print(f"wrote {target.resolve()}", highlight=False)


async def _client_or_none(settings: Settings, archive_only: bool) -> Client | None:
    if archive_only:
        return None
    try:
        return await connect(settings)
    except RuntimeError:
        err.print(f"note: Temporal at {settings.temporal_address} is not reachable; reading the archive")
        return None


@app.command("postmortem")
def postmortem(
    target: Annotated[str, typer.Argument(help="An account id, or a workflow id (save-<account>).")],
    save: Annotated[
        str | None, typer.Option(help="A save id (or its first characters) when the account had several saves.")
    ] = None,
    every: Annotated[bool, typer.Option("--all", help="Every save of the account, oldest first.")] = False,
    fmt: Annotated[PostmortemFormat, typer.Option("--format", help="text, json or html.")] = PostmortemFormat.TEXT,
    output: Annotated[Path | None, typer.Option("--out", help="Write to this file.")] = None,
    archive_only: Annotated[bool, typer.Option(help="Read only the archive, not Temporal.")] = False,
) -> None:
    """The post-mortem of a save, running or closed: its timeline in plain words and key figures.

    Reads Temporal's history; falls back to the archive once Temporal has forgotten the save.
    """
    settings = Settings()
    try:
        _, account = split_target(target)
    except SaveError as exc:
        raise fail(str(exc)) from None

    async def work() -> tuple[list[PostMortem], str]:
        engine = make_engine(settings.db_url)
        try:
            await create_schema(engine)
            client = await _client_or_none(settings, archive_only)
            return await postmortems(client, Archive(engine), target, "*" if every else save)
        finally:
            await engine.dispose()

    found, source = run(work())
    if fmt is PostmortemFormat.JSON:
        body = (
            "[" + ",\n".join(pm.model_dump_json(indent=2) for pm in found) + "]"
            if every
            else found[-1].model_dump_json(indent=2)
        )
        _write(body, output, None)
    elif fmt is PostmortemFormat.HTML:
        for pm in found:
            default = f"postmortem-{account}-{pm.save_id[:8]}.html"
            _write(postmortem_html(pm), output if len(found) == 1 else None, default)
    else:
        _write("\n\n".join(postmortem_text(pm) for pm in found), output, None)
    if source == "archive":
        err.print("(from the archive: Temporal no longer has this save's history)")


@app.command("report")
def report(
    since: Annotated[datetime | None, typer.Option(help="Only saves opened on or after this date.")] = None,
    playbook: Annotated[str | None, typer.Option(help="Only this playbook id.")] = None,
    tier: Annotated[str | None, typer.Option(help="Only this tier (enterprise, mid_market, smb).")] = None,
    owner: Annotated[str | None, typer.Option(help="Only saves of this CSM (id or name).")] = None,
    fmt: Annotated[Format, typer.Option("--format", help="html, csv, json or text.")] = Format.HTML,
    output: Annotated[Path | None, typer.Option("--out", help="Write to this file.")] = None,
) -> None:
    """The save-program report over every archived save: save rate by playbook, tier and time to
    first contact; commitments kept; relapse rate; ARR saved and lost."""
    settings = Settings()
    filters = Filters(
        since=since.replace(tzinfo=since.tzinfo or UTC) if since else None, playbook=playbook, tier=tier, owner=owner
    )

    async def work() -> SaveReport:
        engine = make_engine(settings.db_url)
        try:
            await create_schema(engine)
            records = await Archive(engine).records()
        finally:
            await engine.dispose()
        return build_report(records, filters, datetime.now(UTC))

    result = run(work())
    if result.saves == 0:
        err.print(
            "note: no archived saves match; a save is archived when it closes "
            "(`saves demo-history` fills the archive with simulated past saves)"
        )
    if fmt is Format.HTML:
        _write(report_html(result), output, "saves-report.html")
        out.print(contact_answer(result), highlight=False)
        out.print(HOW_WE_COMPARE, highlight=False)
    elif fmt is Format.CSV:
        _write(report_csv(result), output, None)
    elif fmt is Format.JSON:
        _write(result.model_dump_json(indent=2), output, None)
    else:
        overall = result.overall.save_rate_pct
        lines = [f"{result.saves} saves, save rate {'-' if overall is None else f'{overall:.0f}%'}"]
        for g in result.by_playbook + result.by_first_contact:
            rate = "-" if g.save_rate_pct is None else f"{g.save_rate_pct:.0f}%"
            lines.append(f"  {g.label:<28} {rate:>5} of {g.decided} decided")
        lines += [contact_answer(result), HOW_WE_COMPARE]
        _write("\n".join(lines), output, None)


@app.command("demo-history")
def demo_history(
    saves: Annotated[int, typer.Option(min=1, max=500, help="How many past saves to simulate.")] = 36,
    seed: Annotated[int, typer.Option(help="Seed of the behaviour model (same seed, same season).")] = 7,
) -> None:
    """Fill the archive with a season of past saves, so `saves report` has something to say.

    Each save is the real workflow, run on Temporal's time-skipping test server (months pass in
    seconds) against a throwaway copy of the demo CRM; only the archive records are kept, dated over
    the last two quarters (all over before today). People's behaviour follows an illustrative model
    (later first contact, fewer saves), so the figures are a demo, not your team's.
    """
    import tempfile

    from worker.devtools.simulate import SimulationError, Simulator, into_the_past, season

    settings = Settings()
    log = settings.data_dir / "demo-history.log"
    configure_logging(settings.log_format or "console", settings.log_level, log_file=log)  # the steps go to the file

    async def work() -> tuple[int, int]:
        scenarios = season(saves, seed)
        with tempfile.TemporaryDirectory() as tmp:
            async with Simulator.running(Path(tmp), data_converter(settings)) as sim:
                with Progress(
                    TextColumn("Simulating past saves"),
                    BarColumn(),
                    MofNCompleteColumn(),
                    TimeElapsedColumn(),
                    console=out,
                    transient=False,
                ) as progress:
                    bar = progress.add_task("saves", total=len(scenarios))
                    for scenario in scenarios:
                        await sim.run(scenario)
                        progress.advance(bar)
                records = into_the_past(await sim.services.archive.records(), datetime.now(UTC), seed)
                engine = make_engine(settings.db_url)
                try:
                    await create_schema(engine)
                    archive = Archive(engine)
                    for record in records:
                        histories = await sim.services.archive.histories(record.save_id)
                        await archive.put(
                            record.model_copy(update={"source": "temporal"}), histories or [], datetime.now(UTC)
                        )
                finally:
                    await engine.dispose()
        return len(scenarios), len(records)

    try:
        simulated, archived = run(work())
    except SimulationError as exc:
        raise fail(str(exc)) from None
    reopened = archived - simulated
    extra = f", plus {reopened} that reopened after a relapse" if reopened > 0 else ""
    out.print(
        f"Archived {archived} past saves: the {simulated} simulated{extra}, dated over the last two quarters,"
        f" in {settings.db_url}. Steps logged to {log}. Next: saves report",
        highlight=False,
        soft_wrap=True,
    )
