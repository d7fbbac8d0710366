"""The state of one save, and the requests people send to it.

The whole state is one pydantic model so a query can return it, continue-as-new can carry it,
and a post-mortem can read it back from history. Everything that runs in the workflow is
derived from it, which is what lets a save resume from any run.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum
from typing import Annotated, Any

from pydantic import ConfigDict, Field, StringConstraints, model_validator

from playbook_defs.durations import Duration, Elapsed
from playbook_defs.schema import EscalationLevel, PlaybookDef
from playbook_defs.values import Moment, SafeModel
from playbook_defs.vocabulary import (
    ACCOUNT_ID_PATTERN,
    CancellationReason,
    OutcomeKind,
    OwnerRole,
    RiskColour,
    RootCauseCategory,
    Stage,
    TriggerKind,
)
from workflows.contracts import AccountSnapshot, HealthReading, InboundKind
from workflows.triage_models import TriageDecision

ShortText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000)]
NAME_PATTERN = r"^[^\x00-\x1f\x7f]*$"
"""No control characters (CR, LF, tab...): a name ends up in email headers and CRM fields."""
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200, pattern=NAME_PATTERN)]
SignalValue = float | int | str | bool
AccountId = Annotated[str, StringConstraints(pattern=ACCOUNT_ID_PATTERN)]


class _Model(SafeModel):
    model_config = ConfigDict(extra="forbid")


# --- what starts a save ---------------------------------------------------------------------


class Trigger(_Model):
    """A risk signal for an account: from a CRM webhook, the risk scan or a person."""

    trigger_id: Annotated[str, StringConstraints(min_length=1, max_length=128)]
    account_id: AccountId
    kind: TriggerKind
    reason: CancellationReason | None = None
    playbook: str | None = None
    source: Name = "manual"
    note: str = Field(default="", max_length=2000)
    signals: dict[str, SignalValue] = Field(default_factory=dict)
    reported_by: str | None = None
    # The snapshot that answers "why did this save start?": the rule that fired, and when.
    rule: Name | None = None
    """The detection rule that fired, e.g. ``usage_below_50pct`` or a CRM workflow's name."""
    rule_version: Annotated[str, StringConstraints(min_length=1, max_length=64)] | None = None
    observed_at: Moment | None = None
    """When the source saw the signal; the save records separately when it received it."""


class TriggerRecord(_Model):
    """A trigger as the save received it; ``merged`` when it joined a save already running."""

    trigger: Trigger
    received_at: datetime
    merged: bool = False


class PreviousSave(_Model):
    """The save this one reopens, when a saved customer relapsed during recovery."""

    save_id: str
    run_id: str
    playbook_id: str
    outcome: OutcomeKind | None
    relapsed_at: datetime
    reason: str


class SaveInput(_Model):
    """Workflow input. ``state`` is set when a run continues as new; otherwise a fresh save opens."""

    trigger: Trigger
    state: SaveState | None = None
    previous: PreviousSave | None = None


# --- the parts of a running save --------------------------------------------------------------


class TaskSource(StrEnum):
    STEP = "step"
    HELP = "help"
    APPROVAL = "approval"
    RECOVERY_CHECK = "recovery_check"
    TOUCHPOINT = "touchpoint"
    EXIT_INTERVIEW = "exit_interview"


class TaskStatus(StrEnum):
    PENDING = "pending"
    OPEN = "open"
    DONE = "done"
    CANCELLED = "cancelled"


class Task(_Model):
    """A piece of work for a person, mirrored as a task in the CRM."""

    id: str
    title: str
    source: TaskSource
    owner: OwnerRole
    stage: Stage | None = None
    guidance: str = ""
    status: TaskStatus = TaskStatus.PENDING
    due_within: Duration
    ladder: tuple[EscalationLevel, ...] = ()
    opened_at: datetime | None = None
    due_at: datetime | None = None
    done_at: datetime | None = None
    done_by: str | None = None
    note: str = ""
    crm_task_id: str | None = None
    overdue: bool = False
    commitment_id: str | None = None

    @property
    def is_active(self) -> bool:
        return self.status in (TaskStatus.PENDING, TaskStatus.OPEN)


class AutomatedStatus(StrEnum):
    PENDING = "pending"
    DONE = "done"
    CANCELLED = "cancelled"


class AutomatedStep(_Model):
    """An email or CRM risk-status step of the playbook, run by the workflow itself."""

    id: str
    status: AutomatedStatus = AutomatedStatus.PENDING
    done_at: datetime | None = None


class EscalationRecord(_Model):
    """One rung of a ladder that fired: who was told that what was overdue, and when."""

    item: str
    title: str
    level: int
    to: OwnerRole
    at: datetime
    overdue_by: Elapsed


class FirstContact(_Model):
    """The 48-hour rule: first customer contact (a call) within the playbook's limit."""

    step_id: str
    limit: Duration
    deadline: datetime
    at: datetime | None = None
    kept: bool | None = None


class CommitmentStatus(StrEnum):
    AWAITING_APPROVAL = "awaiting_approval"
    OPEN = "open"
    FULFILLED = "fulfilled"
    REJECTED = "rejected"


class Commitment(_Model):
    """A promise made to the customer. One broken promise can kill the save attempt."""

    id: str
    what: str
    owner: OwnerRole
    due_at: datetime
    made_at: datetime
    made_by: str | None = None
    discount_pct: float | None = None
    status: CommitmentStatus = CommitmentStatus.OPEN
    fulfilled_at: datetime | None = None
    overdue: bool = False
    approval_task: str | None = None
    crm_task_id: str | None = None

    @property
    def kept(self) -> bool:
        return self.status is CommitmentStatus.FULFILLED and not self.overdue

    @property
    def broken(self) -> bool:
        return self.overdue


class RootCause(_Model):
    whys: list[str]
    category: RootCauseCategory
    summary: str
    recorded_by: str | None
    at: datetime


class HelpRequest(_Model):
    id: str
    role: OwnerRole
    what: str
    requested_by: str | None
    at: datetime
    task_id: str


class Outcome(_Model):
    kind: OutcomeKind
    reason: str
    arr_retained: float
    criteria_met: list[str]
    criteria_missed: list[str]
    recorded_by: str | None
    at: datetime


class OutcomeWatch(_Model):
    """The outcome deadline; when it passes the save escalates and keeps waiting."""

    due_at: datetime
    overdue: bool = False


class Repeating(_Model):
    """Something the save does on a rhythm: weekly updates, touchpoints, value reports."""

    next_at: datetime
    count: int = 0


class Relapse(_Model):
    """Why a saved customer's save reopens: a health reading below the threshold or a new signal."""

    at: datetime
    reason: str
    health: int | None = None
    trigger: Trigger | None = None


class RecoveryState(_Model):
    """The 90-day recovery after a saved or partially saved outcome."""

    started_at: datetime
    ends_at: datetime
    close_by: datetime
    touchpoints: Repeating
    value_reports: Repeating
    readings: list[HealthReading] = Field(default_factory=list)
    relapse: Relapse | None = None
    completed: bool = False


class AttentionAction(StrEnum):
    """What an operator decided about a step that needs attention."""

    RETRY = "retry"
    """Run the step's side effect again (after fixing the data); an email is sent once more."""
    SKIP = "skip"
    """Leave the step undone, with a reason."""


class AttentionDecision(_Model):
    """One operator decision on a step that needs attention, and what came of it."""

    action: AttentionAction
    by: str
    at: datetime
    reason: str = ""
    result: str
    """``done``, ``skipped``, or why the retry failed again."""
    succeeded: bool = False


class AttentionStatus(StrEnum):
    OPEN = "open"
    RETRYING = "retrying"
    RESOLVED = "resolved"
    """An operator's retry succeeded."""
    SKIPPED = "skipped"


class NeedsAttention(_Model):
    """A step that can never succeed as it is (bad data, an email whose delivery is unknown): the
    save records it and goes on with everything else; an operator retries it after fixing the data
    (``saves attention retry``) or skips it with a reason (``saves attention skip``)."""

    id: str = ""
    """``a1``, ``a2``... in the order the save recorded them; empty only while an older state is read
    (:class:`SaveState` numbers those)."""
    step: str
    """What the save was doing, in the timeline's words."""
    error: str
    """The failure's type, e.g. ``EmailUncertain`` or ``CrmRejected``."""
    message: str
    since: datetime
    activity: str | None = None
    """The side effect an operator's retry runs again; None for items recorded before retries existed."""
    request: Any = None
    """Its request as sent, in JSON."""
    timeout_seconds: float = 30.0
    decisions: list[AttentionDecision] = Field(default_factory=list)
    retrying: bool = False
    """An operator's retry is running now."""
    notified: bool = False
    """Operations were told (``SAVES_OPS_EMAIL``)."""

    @property
    def status(self) -> AttentionStatus:
        if self.retrying:
            return AttentionStatus.RETRYING
        last = self.decisions[-1] if self.decisions else None
        if last is None or (last.action is AttentionAction.RETRY and not last.succeeded):
            return AttentionStatus.OPEN
        return AttentionStatus.RESOLVED if last.action is AttentionAction.RETRY else AttentionStatus.SKIPPED

    @property
    def is_open(self) -> bool:
        return self.status is AttentionStatus.OPEN


class OwnerChange(_Model):
    """A save's owner for a role handed to someone else (swap the CSM when the fit is broken)."""

    number: int
    role: OwnerRole
    owner_id: str
    name: str
    email: str | None = None
    previous: str | None = None
    reason: str = ""
    by: str | None = None
    at: datetime
    synced: bool = False
    """True once the CRM has the new owner and their open tasks."""


class CrmDecision(StrEnum):
    APPLIED = "applied"
    IGNORED = "ignored"
    """Nothing to change (already so, or not this save's business)."""
    REFUSED = "refused"
    """The CRM did something the save cannot follow; recorded and shown."""


class CrmEventRecord(_Model):
    """An inbound event as the save heard it: for idempotency and the post-mortem timeline."""

    key: str
    crm: str
    kind: InboundKind
    at: datetime
    """The CRM's time of the change."""
    heard_at: datetime
    decision: CrmDecision
    text: str
    """One line for the timeline, e.g. ``Done in HubSpot by Sam Ortiz``."""
    by: str | None = None
    task_id: str | None = None
    needs_attention: bool = False


class SaveState(_Model):
    """Everything about one save. Returned whole by the ``state`` query."""

    save_id: str
    account: AccountSnapshot
    playbook: PlaybookDef
    stage: Stage = Stage.INVESTIGATION
    risk: RiskColour = RiskColour.RED
    opened_at: datetime
    triggers: list[TriggerRecord]
    triggers_not_kept: int = 0
    first_contact: FirstContact
    tasks: dict[str, Task] = Field(default_factory=dict)
    automated: dict[str, AutomatedStep] = Field(default_factory=dict)
    skipped_steps: list[str] = Field(default_factory=list)
    escalations: list[EscalationRecord] = Field(default_factory=list)
    customer_updates: Repeating
    internal_status: Repeating
    commitments: list[Commitment] = Field(default_factory=list)
    root_cause: RootCause | None = None
    help_requests: list[HelpRequest] = Field(default_factory=list)
    outcome: Outcome | None = None
    outcome_watch: OutcomeWatch
    recovery: RecoveryState | None = None
    exit_started_at: datetime | None = None
    closed_at: datetime | None = None
    closed_reason: str | None = None
    previous: PreviousSave | None = None
    emails_sent: int = 0
    run_number: int = 1
    triage: TriageDecision | None = None
    """Red or dead zone, rescue / recover / farewell, and why; None for saves opened before triage."""
    owner_changes: list[OwnerChange] = Field(default_factory=list)
    needs_attention: list[NeedsAttention] = Field(default_factory=list)
    """Steps that failed for good, each with the operators' decisions; shown in the current details,
    ``saves show`` and ``saves attention list``."""
    crm_events: list[CrmEventRecord] = Field(default_factory=list)
    """Inbound CRM events this save heard (task done in the CRM, call logged, ...), each key once."""

    @model_validator(mode="after")
    def _number_attention(self) -> SaveState:
        """Items recorded before they had ids get theirs from their place in the list."""
        for number, item in enumerate(self.needs_attention, start=1):
            if not item.id:
                item.id = f"a{number}"
        return self

    def attention(self, item_id: str) -> NeedsAttention | None:
        return next((i for i in self.needs_attention if i.id == item_id), None)

    def escalations_for(self, item: str) -> list[EscalationRecord]:
        return [e for e in self.escalations if e.item == item]

    def commitment(self, commitment_id: str) -> Commitment:
        return next(c for c in self.commitments if c.id == commitment_id)


# --- human actions ------------------------------------------------------------------------------


class CompleteTask(_Model):
    task_id: str
    by: Name | None = None
    note: str = Field(default="", max_length=2000)
    approved: bool = True
    """Only for approval tasks: false rejects the concession."""


class AddCommitment(_Model):
    what: ShortText
    owner: OwnerRole
    due_in: Duration | None = None
    due_at: Moment | None = None
    discount_pct: float | None = Field(default=None, ge=0, le=100)
    by: Name | None = None


class FulfilCommitment(_Model):
    commitment_id: str
    by: Name | None = None
    note: str = Field(default="", max_length=2000)


class RecordRootCause(_Model):
    whys: list[ShortText] = Field(min_length=1, max_length=5)
    category: RootCauseCategory
    summary: ShortText
    by: Name | None = None


class FlagHelp(_Model):
    role: OwnerRole
    what: ShortText
    by: Name | None = None


class RecordOutcome(_Model):
    kind: OutcomeKind
    reason: ShortText
    arr_retained: float | None = Field(default=None, ge=0)
    criteria_met: list[str] = Field(default_factory=list)
    by: Name | None = None


class ReassignOwner(_Model):
    """Hand the save's work for a role (the CSM by default) to another person."""

    role: OwnerRole = OwnerRole.CSM
    owner_id: Name
    name: Name
    email: Annotated[str, StringConstraints(pattern=r"^[^@\s]+@[^@\s]+$", max_length=320)] | None = None
    reason: str = Field(default="", max_length=2000)
    by: Name | None = None


class ResolveAttention(_Model):
    """An operator's decision on a step that needs attention: retry it (after fixing the data) or
    skip it with a reason."""

    item: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
    action: AttentionAction
    by: Name
    reason: str = Field(default="", max_length=2000)

    @model_validator(mode="after")
    def _skip_says_why(self) -> ResolveAttention:
        if self.action is AttentionAction.SKIP and not self.reason.strip():
            raise ValueError("say why the step is skipped (a reason)")
        return self


class SaveResult(_Model):
    """What a finished save returns: how it ended."""

    save_id: str
    account_id: str
    playbook_id: str
    outcome: OutcomeKind | None
    closed_reason: str
    recovered: bool | None = None


def overdue_by(now: datetime, due_at: datetime) -> timedelta:
    return max(now - due_at, timedelta(0))


SaveInput.model_rebuild()
