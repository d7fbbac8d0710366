"""``saves triage``: override or confirm a save's triage."""

from __future__ import annotations

from typing import Annotated

import typer

from activities.store.db import make_engine
from activities.store.sql_crm import SqlCrm
from playbook_defs.loader import load_playbooks
from playbook_defs.triage_rules import Strategy, Zone
from worker.cli.common import out, run
from worker.runtime.connect import connect
from worker.runtime.save_client import SaveClient
from worker.runtime.settings import Settings
from workflows.save import SaveWorkflow
from workflows.triage_models import OverrideTriage, TriageDecision

app = typer.Typer(
    name="triage", help="Triage of a save: red or dead zone; rescue, recover or farewell.", no_args_is_help=True
)


@app.command("override")
def triage_override(
    account: Annotated[str, typer.Argument(help="The account id, as in the CRM.")],
    reason: Annotated[str, typer.Option(help="Why, in a sentence (recorded on the save).")],
    by: Annotated[str, typer.Option(help="The CS manager making the call.")],
    zone: Annotated[Zone | None, typer.Option(help="red_zone (worth saving) or dead_zone.")] = None,
    strategy: Annotated[Strategy | None, typer.Option(help="rescue, recover or farewell.")] = None,
) -> None:
    """Override a save's triage within its window; with no zone or strategy, confirm it."""

    async def work() -> TriageDecision:
        settings = Settings()
        engine = make_engine(settings.db_url)
        try:
            saves = SaveClient(
                await connect(settings), settings.task_queue, load_playbooks(settings.playbook_dir), SqlCrm(engine)
            )
            decision: TriageDecision = await saves.update(
                account,
                SaveWorkflow.override_triage,
                OverrideTriage(zone=zone, strategy=strategy, reason=reason, by=by),
            )
            return decision
        finally:
            await engine.dispose()

    d = run(work())
    out.print(
        f"{account}: {d.zone.value.replace('_', ' ')}, {d.strategy.value} -> {d.path.value} path", highlight=False
    )
