"""``saves playbooks``: check and list the playbook definitions."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from playbook_defs.loader import PlaybookError, load_playbooks
from worker.cli.common import fail, out
from worker.runtime.settings import Settings

app = typer.Typer(name="playbooks", help="The playbook definitions.", no_args_is_help=True)


@app.command("check")
def playbooks_check(
    directory: Annotated[Path | None, typer.Argument(help="Directory of playbook YAML files.")] = None,
) -> None:
    """Validate every playbook file; errors name the file and the field."""
    try:
        library = load_playbooks(directory or Settings().playbook_dir)
    except PlaybookError as exc:
        raise fail(str(exc)) from None
    for p in library.playbooks.values():
        out.print(f"ok  {p.id} v{p.version} ({len(p.steps)} steps, digest {p.digest})")


@app.command("list")
def playbooks_list() -> None:
    """The playbooks and the triggers each one answers."""
    library = load_playbooks(Settings().playbook_dir)
    table = Table(title="Playbooks", title_justify="left")
    for column in ("id", "name", "version", "triggers", "cancellation reasons"):
        table.add_column(column)
    for p in library.playbooks.values():
        table.add_row(
            p.id,
            p.name,
            str(p.version),
            ", ".join(t.value for t in p.triggers),
            ", ".join(r.value for r in p.cancellation_reasons),
        )
    out.print(table)
