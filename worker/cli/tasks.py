"""``saves task``: a save's tasks."""

from __future__ import annotations

from typing import Annotated

import typer

from worker.cli.common import Account, By, out, run, save_client, valid
from workflows.models import CompleteTask, Task

app = typer.Typer(name="task", help="Tasks of a save.", no_args_is_help=True)


@app.command("complete")
def task_complete(
    account: Account,
    task_id: Annotated[str, typer.Argument(help="The task id, as `saves show` lists it.")],
    note: Annotated[str, typer.Option(help="What was done.")] = "",
    reject: Annotated[bool, typer.Option(help="For an approval task: reject the concession.")] = False,
    by: By = None,
) -> None:
    """Mark a task done; its escalation ladder stops."""

    async def work() -> Task:
        async with save_client() as saves:
            request = valid(CompleteTask, task_id=task_id, by=by, note=note, approved=not reject)
            return await saves.complete_task(account, request)

    task = run(work())
    out.print(f"{task.id}: done")
