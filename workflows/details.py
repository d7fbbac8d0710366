"""Plain-words views of a save: the static summary and the current details in markdown.

The Temporal UI shows both on the workflow page; ``saves show`` prints the same text. Both are
user metadata that anyone with UI access reads, so they carry ids, roles, enums, numbers, dates
and the company name, never a person's name or email nor free text people typed (a commitment,
a help request, an outcome's reason may name someone): those show as their ids.
"""

from __future__ import annotations

from datetime import datetime

from playbook_defs.durations import clock_words
from workflows.models import AttentionStatus, CommitmentStatus, SaveState, TaskSource, TaskStatus
from workflows.rules import open_deadlines, overdue, when
from workflows.triage import triage_line
from workflows.wording import role, rule_name


def money(amount: float) -> str:
    if amount >= 1_000_000:
        return f"${amount / 1_000_000:.1f}M"
    if amount >= 1_000:
        return f"${amount / 1_000:.0f}k"
    return f"${amount:.0f}"


def static_summary(playbook_name: str, account_name: str, arr: float, tier: str) -> str:
    """One line for the workflow list: ``Budget save · Acme · $120k ARR · enterprise``."""
    return f"{playbook_name} · {account_name} · {money(arr)} ARR · {tier.replace('_', ' ')}"


_TYPED_TASKS = {TaskSource.HELP: "Help request", TaskSource.APPROVAL: "Approval"}
"""Tasks whose titles carry what a person typed."""


def label(state: SaveState, item: str, title: str) -> str:
    """``title`` when it comes from the playbook; the item's kind and id when people wrote it."""
    kind, _, ident = item.partition("/")
    if kind == "commitment":
        return f"Commitment {ident}"
    task = state.tasks.get(ident) if kind == "task" else None
    if task is not None and task.source in _TYPED_TASKS:
        return f"{_TYPED_TASKS[task.source]} {task.id}"
    return title


def current_details(state: SaveState, now: datetime) -> str:
    """Where the save stands, what is overdue and since when, who was escalated."""
    lines = [
        "### " + static_summary(state.playbook.name, state.account.name, state.account.arr, state.account.tier.value),
        f"**Stage:** {state.stage.value.replace('_', ' ')} · **Risk:** {state.risk.value}"
        f" · **Playbook:** {state.playbook.id} v{state.playbook.version}",
    ]
    speed = state.playbook.demo_speed
    if speed:
        lines.append(
            f"**Demo clock:** {clock_words(speed)}. This save runs a demo copy of the playbook with every"
            f" duration divided by {speed}; the playbook files are unchanged."
        )
    if state.triage is not None:
        lines.append(triage_line(state.triage, now))
    fc = state.first_contact
    rule = rule_name(fc.limit, speed)
    if fc.at is not None:
        verdict = "kept" if fc.kept else "broken"
        lines.append(f"**First contact:** {when(fc.at)}; {rule} {verdict}")
    elif fc.kept is False:
        lines.append(f"**First contact:** none yet; {rule} broken since {when(fc.deadline)}")
    else:
        lines.append(f"**First contact:** due by {when(fc.deadline)}")
    account = state.account.account_id
    for problem in state.needs_attention:
        last = problem.decisions[-1] if problem.decisions else None
        if problem.status is AttentionStatus.OPEN:
            tried = f"; a retry failed on {when(last.at)}" if last is not None else ""
            lines.append(
                f"**Needs attention:** {problem.id} · {problem.step}, since {when(problem.since)} ({problem.error}"
                f"{tried}; `saves attention list {account}` has the error, then retry or skip it)"
            )
        elif problem.status is AttentionStatus.RETRYING:
            lines.append(f"**Needs attention:** {problem.id} · {problem.step}: an operator's retry is running")
        elif last is not None:
            done = "retried and done" if problem.status is AttentionStatus.RESOLVED else "skipped"
            lines.append(f"**Attention resolved:** {problem.id} · {problem.step}: {done} on {when(last.at)}")
    deadlines = open_deadlines(state)
    if deadlines:
        nxt = deadlines[0]
        lines.append(
            f"**Next deadline:** {label(state, nxt.item, nxt.title)} ({role(nxt.owner)}) by {when(nxt.due_at)}"
        )
    late = overdue(state, now)
    if late:
        lines.append("")
        lines.append("**Overdue**")
        lines.append("")
        for d in late:
            levels = state.escalations_for(d.item)
            told = f"; escalated to {', '.join(role(e.to) for e in levels)}" if levels else ""
            lines.append(f"- {label(state, d.item, d.title)} ({role(d.owner)}): overdue since {when(d.due_at)}{told}")
    open_commitments = [
        c for c in state.commitments if c.status in (CommitmentStatus.OPEN, CommitmentStatus.AWAITING_APPROVAL)
    ]
    if open_commitments:
        lines.append("")
        lines.append("**Open commitments**")
        lines.append("")
        for c in open_commitments:
            lines.append(
                f"- Commitment {c.id} ({role(c.owner)}), due {when(c.due_at)}"
                + (" — awaiting approval" if c.status is CommitmentStatus.AWAITING_APPROVAL else "")
            )
    if state.escalations:
        lines.append("")
        lines.append(f"**Escalations fired:** {len(state.escalations)}")
        lines.append("")
        for e in state.escalations[-5:]:
            lines.append(f"- level {e.level} to {role(e.to)}: {label(state, e.item, e.title)} ({when(e.at)})")
    open_tasks = [t for t in state.tasks.values() if t.status is TaskStatus.OPEN]
    if open_tasks:
        lines.append("")
        lines.append(f"**Open tasks:** {len(open_tasks)}")
        lines.append("")
        for t in open_tasks[:8]:
            lines.append(f"- `{t.id}` {label(state, 'task/' + t.id, t.title)} ({role(t.owner)}), due {when(t.due_at)}")
    if state.outcome is not None:
        o = state.outcome
        lines.append("")
        lines.append(
            f"**Outcome:** {o.kind.value.replace('_', ' ')} on {when(o.at)} · ARR retained {money(o.arr_retained)}"
        )
    if state.recovery is not None:
        r = state.recovery
        health = f"last health reading {r.readings[-1].health}" if r.readings else "no health reading yet"
        lines.append("")
        lines.append(
            f"**Recovery:** until {when(r.ends_at)} · touchpoints {r.touchpoints.count}"
            f" · value reports {r.value_reports.count} · {health}"
        )
        if r.relapse is not None:
            lines.append("")
            lines.append(f"**Relapsed:** {r.relapse.reason}")
    head = lines.index("") if "" in lines else len(lines)  # header lines: one paragraph each,
    rest = lines[head:]  # so every renderer (the UI, `saves show`) keeps them on their own lines
    return "\n\n".join(lines[:head]) + ("\n" + "\n".join(rest) if rest else "")
