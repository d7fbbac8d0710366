"""The post-mortem of one save: its story in plain words and the figures a CS leader asks for.

Built by pure functions from the save's final :class:`SaveState` (which carries a timestamp for
nearly everything that happened) plus the few facts only the Temporal history holds: the emails
sent and the runs the save went through. The record is what the archive keeps and what
``saves report`` aggregates, so it is a stable pydantic model of its own, not the engine's state.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta
from enum import StrEnum

from pydantic import BaseModel, Field

from playbook_defs.vocabulary import OutcomeKind
from workflows.contracts import ActivityName, InboundKind, crm_name
from workflows.models import AttentionAction, CommitmentStatus, CrmDecision, SaveState, TaskSource, TaskStatus

FORTY_EIGHT_HOURS = timedelta(hours=48)
SEVEN_DAYS = timedelta(days=7)
RELAPSE_WINDOW = timedelta(days=90)


class ContactBucket(StrEnum):
    """How fast the customer was first engaged: customers engaged within 48 h are saved far more often
    than after a week."""

    WITHIN_48H = "within_48h"
    DAYS_2_TO_7 = "2_to_7_days"
    OVER_7_DAYS = "over_7_days"
    NO_CONTACT = "no_contact"
    """No first contact recorded (yet, for a running save still inside its window)."""


class Verdict(StrEnum):
    """How a save ended, for the report: the engine's outcomes plus farewell and still open."""

    SAVED = "saved"
    PARTIALLY_SAVED = "partially_saved"
    LOST = "lost"
    FAREWELL = "farewell"
    OPEN = "open"


class RecoveryResult(StrEnum):
    RECOVERED = "recovered"
    RELAPSED = "relapsed"
    IN_RECOVERY = "in_recovery"
    NOT_APPLICABLE = "not_applicable"


class TimelineEntry(BaseModel):
    at: datetime
    kind: str
    """trigger, triage, task_opened, task_done, task_overdue, escalation, email, commitment_made,
    commitment_kept, commitment_broken, root_cause, help, outcome, recovery_check, health, relapse,
    phase, closed, crm, attention."""
    text: str
    late: bool = False


class EmailEvent(BaseModel):
    """An email the save sent, read from the history (template, recipient, when)."""

    at: datetime
    template: str
    to: str
    summary: str = ""


class RunSummary(BaseModel):
    """One Temporal run of the save (one phase, or part of one)."""

    run_id: str
    phase: str
    started_at: datetime
    ended_at: datetime | None = None
    ended_as: str = "running"
    events: int = 0


class KeyFigures(BaseModel):
    first_contact_hours: float | None = None
    first_contact_limit_hours: float
    first_contact_kept: bool | None = None
    """Against the playbook's own limit (24 h or 48 h)."""
    within_48h: bool | None = None
    contact_bucket: ContactBucket
    tasks_created: int = 0
    tasks_done: int = 0
    tasks_overdue: int = 0
    tasks_on_time_pct: float | None = None
    escalations_by_level: dict[str, int] = Field(default_factory=dict)
    escalations_by_role: dict[str, int] = Field(default_factory=dict)
    commitments_made: int = 0
    commitments_kept: int = 0
    commitments_broken: int = 0
    commitments_open: int = 0
    commitments_kept_pct: float | None = None
    days_to_outcome: float | None = None
    outcome: Verdict
    recovery: RecoveryResult
    relapsed_after_days: float | None = None
    arr: float
    arr_retained: float = 0.0
    arr_lost: float = 0.0
    emails_sent: int = 0


class PostMortem(BaseModel):
    """Everything a review of one save needs; stored whole in the archive."""

    save_id: str
    workflow_id: str
    account_id: str
    account_name: str
    tier: str
    owner: str | None
    owner_id: str | None
    playbook_id: str
    playbook_name: str
    playbook_version: int
    opened_at: datetime
    closed_at: datetime | None
    status: str
    """running, closed, or reopened (a relapse ended this save and opened the next)."""
    trigger: str
    reopened_from: str | None = None
    root_cause: str | None = None
    outcome_reason: str | None = None
    figures: KeyFigures
    timeline: list[TimelineEntry]
    runs: list[RunSummary] = Field(default_factory=list)
    partial: bool = False
    """True when the save's final state was not in the history (e.g. terminated by an operator)."""
    source: str = "temporal"
    generated_at: datetime


def _hours(delta: timedelta) -> float:
    return round(delta.total_seconds() / 3600, 1)


def _days(delta: timedelta) -> float:
    return round(delta.total_seconds() / 86400, 1)


def _pct(part: int, whole: int) -> float | None:
    return round(100 * part / whole, 1) if whole else None


def _words(value: str) -> str:
    return value.replace("_", " ")


def contact_bucket(hours: float | None) -> ContactBucket:
    if hours is None:
        return ContactBucket.NO_CONTACT
    if hours <= 48:
        return ContactBucket.WITHIN_48H
    if hours <= 24 * 7:
        return ContactBucket.DAYS_2_TO_7
    return ContactBucket.OVER_7_DAYS


def verdict(state: SaveState) -> Verdict:
    """Farewell when triage sent the save down the exit path (no save effort) and it closed so."""
    exited_by_triage = state.triage is not None and state.triage.path.value == "exit"
    if state.outcome is None:
        return Verdict.FAREWELL if exited_by_triage and state.closed_at else Verdict.OPEN
    if state.outcome.kind is OutcomeKind.LOST:
        return Verdict.FAREWELL if exited_by_triage else Verdict.LOST
    return Verdict(state.outcome.kind.value)


def recovery_result(state: SaveState) -> RecoveryResult:
    r = state.recovery
    if r is None:
        return RecoveryResult.NOT_APPLICABLE
    if r.relapse is not None:
        return RecoveryResult.RELAPSED
    if state.closed_reason == "recovered":
        return RecoveryResult.RECOVERED
    return RecoveryResult.IN_RECOVERY


def key_figures(state: SaveState, emails: list[EmailEvent], now: datetime) -> KeyFigures:
    fc = state.first_contact
    hours = _hours(fc.at - state.opened_at) if fc.at else None
    window_over = (state.closed_at or now) - state.opened_at > FORTY_EIGHT_HOURS
    within = hours <= 48 if hours is not None else (False if window_over else None)
    opened = [t for t in state.tasks.values() if t.opened_at is not None]
    done = [t for t in opened if t.status is TaskStatus.DONE]
    due_or_done = [t for t in opened if t.status is TaskStatus.DONE or t.overdue]
    on_time = [t for t in done if not t.overdue]
    commitments = [c for c in state.commitments if c.status is not CommitmentStatus.REJECTED]
    kept = [c for c in commitments if c.kept]
    broken = [c for c in commitments if c.broken]
    open_ = [
        c
        for c in commitments
        if c.status in (CommitmentStatus.OPEN, CommitmentStatus.AWAITING_APPROVAL) and not c.broken
    ]
    outcome = state.outcome
    arr = float(state.account.arr)
    retained = float(outcome.arr_retained) if outcome else 0.0
    relapse = state.recovery.relapse if state.recovery else None
    return KeyFigures(
        first_contact_hours=hours,
        first_contact_limit_hours=_hours(fc.limit),
        first_contact_kept=fc.kept,
        within_48h=within,
        contact_bucket=contact_bucket(hours),
        tasks_created=len(opened),
        tasks_done=len(done),
        tasks_overdue=sum(1 for t in opened if t.overdue),
        tasks_on_time_pct=_pct(len(on_time), len(due_or_done)),
        escalations_by_level={str(k): v for k, v in sorted(Counter(e.level for e in state.escalations).items())},
        escalations_by_role=dict(Counter(e.to.value for e in state.escalations)),
        commitments_made=len(commitments),
        commitments_kept=len(kept),
        commitments_broken=len(broken),
        commitments_open=len(open_),
        commitments_kept_pct=_pct(len(kept), len(kept) + len(broken)),
        days_to_outcome=_days(outcome.at - state.opened_at) if outcome else None,
        outcome=verdict(state),
        recovery=recovery_result(state),
        relapsed_after_days=_days(relapse.at - outcome.at) if relapse and outcome else None,
        arr=arr,
        arr_retained=retained,
        arr_lost=arr - retained if outcome else 0.0,
        emails_sent=max(state.emails_sent, len(emails)),
    )


def timeline(state: SaveState, emails: list[EmailEvent], now: datetime) -> list[TimelineEntry]:
    """What happened, when, in plain words; sorted by time."""
    out: list[TimelineEntry] = []

    def add(at: datetime | None, kind: str, text: str, late: bool = False) -> None:
        if at is not None:
            out.append(TimelineEntry(at=at, kind=kind, text=text, late=late))

    first, *merged = state.triggers
    t = first.trigger
    why = f" ({t.reason.value})" if t.reason else ""
    note = f": {t.note}" if t.note else ""
    signals = ", ".join(f"{k}={v}" for k, v in t.signals.items())
    add(
        first.received_at,
        "trigger",
        f"{_words(t.kind.value).capitalize()}{why} from {t.source}{note}"
        f"{' [' + signals + ']' if signals else ''}; {state.playbook.name} opened",
    )
    if state.previous is not None:
        add(
            first.received_at,
            "trigger",
            f"Reopened after a relapse of save {state.previous.save_id[:8]}: {state.previous.reason}",
        )
    t8 = state.triage
    if t8 is not None:
        add(
            t8.decided_at,
            "triage",
            f"Triage: {_words(t8.zone.value)}, {t8.strategy.value}, path {t8.path.value}: {'; '.join(t8.reasons)}",
        )
        if t8.override is not None:
            ov = t8.override
            add(
                ov.at,
                "triage",
                f"Triage overridden by {ov.by} to {_words(ov.zone.value)}, "
                f"{ov.strategy.value}, path {ov.path.value}: {ov.reason}",
            )
    for record in merged:
        joined = record.trigger
        add(
            record.received_at,
            "trigger",
            f"Another signal joined the save: {_words(joined.kind.value)} from {joined.source}",
        )
    fc_step = state.first_contact.step_id
    done_in_crm = {
        r.task_id: r.crm
        for r in state.crm_events
        if r.task_id and r.decision is CrmDecision.APPLIED and r.kind is not InboundKind.TASK_DELETED
    }
    for heard in state.crm_events:
        if heard.decision is not CrmDecision.IGNORED and not (
            heard.task_id in done_in_crm and heard.kind is InboundKind.TASK_COMPLETED
        ):
            add(heard.at, "crm", heard.text, late=heard.needs_attention)
    for task in state.tasks.values():
        who = _words(task.owner.value)
        label = "First customer contact" if task.id == fc_step else task.title
        add(task.opened_at, "task_opened", f"Task for {who}: {label} (due {_fmt(task.due_at)})")
        if task.overdue and task.due_at is not None and (task.done_at is None or task.done_at > task.due_at):
            add(task.due_at, "task_overdue", f"Overdue: {label} ({who})", late=True)
        if task.status is TaskStatus.DONE:
            by = f" by {task.done_by}" if task.done_by else ""
            if task.id in done_in_crm:
                by = f" in {crm_name(done_in_crm[task.id])}{by}"
            kind = "recovery_check" if task.source is TaskSource.RECOVERY_CHECK else "task_done"
            add(task.done_at, kind, f"Done{by}: {label}{' (late)' if task.overdue else ''}", late=task.overdue)
    for problem in state.needs_attention:
        add(problem.since, "attention", f"Needs attention ({problem.id}): {problem.step} ({problem.error})", late=True)
        for d in problem.decisions:
            if d.action is AttentionAction.SKIP:
                add(d.at, "attention", f"Skipped by {d.by} ({problem.id}): {problem.step}; {d.reason}")
            else:
                why = f" ({d.reason})" if d.reason else ""
                add(d.at, "attention", f"Retried by {d.by}{why} ({problem.id}): {problem.step}; {d.result}")
    for e in state.escalations:
        add(e.at, "escalation", f"Escalated to {_words(e.to.value)} (level {e.level}): {e.title}", late=True)
    for mail in emails:
        add(mail.at, "email", f"Email {_words(mail.template)} to {_words(mail.to)}")
    for c in state.commitments:
        add(c.made_at, "commitment_made", f"Promised: {c.what} ({_words(c.owner.value)}, due {_fmt(c.due_at)})")
        if c.status is CommitmentStatus.REJECTED:
            add(c.made_at, "commitment_made", f"Concession rejected: {c.what}")
        elif c.kept:
            add(c.fulfilled_at, "commitment_kept", f"Promise kept: {c.what}")
        elif c.broken:
            add(
                c.due_at,
                "commitment_broken",
                f"Promise broken (not delivered by {_fmt(c.due_at)}): {c.what}",
                late=True,
            )
            if c.fulfilled_at:
                add(c.fulfilled_at, "commitment_kept", f"Delivered late: {c.what}", late=True)
    if state.root_cause is not None:
        rc = state.root_cause
        add(rc.at, "root_cause", f"Root cause ({rc.category.value}): {rc.summary}; whys: {' → '.join(rc.whys)}")
    for h in state.help_requests:
        add(h.at, "help", f"Help requested from {_words(h.role.value)}: {h.what}")
    if state.outcome is not None:
        o = state.outcome
        add(
            o.at,
            "outcome",
            f"Outcome: {_words(verdict(state).value)}: {o.reason} "
            f"(ARR retained {o.arr_retained:,.0f} of {state.account.arr:,.0f})",
        )
    if state.exit_started_at is not None:
        add(state.exit_started_at, "phase", "Exit: exit interview and a graceful goodbye")
    r = state.recovery
    if r is not None:
        add(r.started_at, "phase", f"Recovery starts (90-day follow-up until {_fmt(r.ends_at)})")
        for reading in r.readings:
            add(reading.read_at, "health", f"Health read: {reading.health}")
        if r.relapse is not None:
            add(r.relapse.at, "relapse", f"Relapse: {r.relapse.reason}; the save reopens", late=True)
    if state.closed_at is not None:
        add(state.closed_at, "closed", f"Save closed: {state.closed_reason}")
    out.sort(key=lambda e: e.at)
    return out


def _fmt(at: datetime | None) -> str:
    return at.strftime("%d %b %H:%M") if at else "not set"


def build_postmortem(
    state: SaveState,
    *,
    workflow_id: str,
    emails: list[EmailEvent],
    runs: list[RunSummary],
    now: datetime,
    status: str,
    partial: bool = False,
    source: str = "temporal",
) -> PostMortem:
    """The post-mortem of one save from its final state, its emails and its runs."""
    t = state.triggers[0].trigger
    closed_at = state.closed_at
    if closed_at is None and state.recovery is not None and state.recovery.relapse is not None:
        closed_at = state.recovery.relapse.at
    return PostMortem(
        save_id=state.save_id,
        workflow_id=workflow_id,
        account_id=state.account.account_id,
        account_name=state.account.name,
        tier=state.account.tier.value,
        owner=state.account.csm,
        owner_id=state.account.csm_id,
        playbook_id=state.playbook.id,
        playbook_name=state.playbook.name,
        playbook_version=state.playbook.version,
        opened_at=state.opened_at,
        closed_at=closed_at,
        status=status,
        trigger=f"{_words(t.kind.value)}{' (' + t.reason.value + ')' if t.reason else ''}"
        f"{': ' + t.note if t.note else ''}",
        reopened_from=state.previous.save_id if state.previous else None,
        root_cause=state.root_cause.summary if state.root_cause else None,
        outcome_reason=state.outcome.reason if state.outcome else None,
        figures=key_figures(state, emails, now),
        timeline=timeline(state, emails, now),
        runs=runs,
        partial=partial,
        source=source,
        generated_at=now,
    )


ARCHIVE_ACTIVITY = ActivityName.ARCHIVE_SAVE.value
"""Activity the engine calls when a save ends; its input puts the final state in the history."""


class ArchiveRequest(BaseModel):
    """The final state of a save that just ended (closed, or reopened after a relapse)."""

    state: SaveState
    status: str
