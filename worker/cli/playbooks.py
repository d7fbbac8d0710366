"""``saves playbooks``: check and list the playbook definitions."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from playbook_defs.loader import PlaybookError, check_playbooks, load_playbooks, template_names
from playbook_defs.schema import PlaybookDef
from worker.cli.common import err, fail, out
from worker.runtime.settings import Settings

app = typer.Typer(name="playbooks", help="The playbook definitions.", no_args_is_help=True)


@app.command("check")
def playbooks_check(
    directory: Annotated[Path | None, typer.Argument(help="Directory of playbook YAML files.")] = None,
) -> None:
    """Validate everything the worker loads: playbooks, triage and risk rules, email templates.

    Errors name the file and the field; the exit code is 2 when anything is wrong.
    """
    from activities.mailer import EmailRenderer, check_templates
    from activities.scan_rules import load_scan_rules
    from activities.triage_activities import load_triage_rules

    where = directory or Settings().playbook_dir
    if not where.is_dir():
        raise fail(f"{where}: not a directory of playbooks")
    problems: list[str] = []
    playbooks: dict[str, PlaybookDef] = {}
    try:
        playbooks, broken = check_playbooks(where)
        problems += [str(exc) for exc in broken]
    except OSError as exc:
        problems.append(f"{where}: {exc}")
    for name, load in (("triage rules", load_triage_rules), ("risk rules", load_scan_rules)):
        try:
            load(where)
            out.print(f"ok  {name}")
        except (PlaybookError, OSError, RecursionError) as exc:
            problems.append(f"rules/{exc}" if isinstance(exc, PlaybookError) else f"{name}: {exc}")
    templates = template_names(where / "templates") | template_names()
    template_problems = check_templates(EmailRenderer(where / "templates"), templates)
    problems += template_problems
    if not template_problems:
        out.print(f"ok  {len(templates)} email templates")
    for p in playbooks.values():
        out.print(f"ok  {p.id} v{p.version} ({len(p.steps)} steps, digest {p.digest})")
    if problems:
        for problem in problems:
            err.print(f"[red]error:[/red] {problem}", highlight=False, soft_wrap=True)
        raise typer.Exit(2)


@app.command("list")
def playbooks_list() -> None:
    """The playbooks and the triggers each one answers."""
    try:
        library = load_playbooks(Settings().playbook_dir)
    except (PlaybookError, OSError, RecursionError) as exc:
        raise fail(f"{exc} (saves playbooks check lists every problem)") from None
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
