"""What goes in and out of activities. Plain pydantic models, safe to import into workflows."""

from __future__ import annotations

from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Any, Final, Literal

from pydantic import ConfigDict, Field

from playbook_defs.schema import PlaybookDef, Recipient
from playbook_defs.triage_rules import TriageRules
from playbook_defs.values import SafeModel
from playbook_defs.vocabulary import (
    AccountFlag,
    CancellationReason,
    Fit,
    OwnerRole,
    RiskColour,
    SponsorStatus,
    Tier,
    TriggerKind,
)

UNKNOWN_ACCOUNT = "UnknownAccount"
"""Error type of the non-retryable failure for an account id the CRM does not know."""
INVALID_PLAYBOOK = "InvalidPlaybook"
"""Error type of the non-retryable failure for a playbook that cannot be loaded or routed."""


class _Contract(SafeModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SaveRef(_Contract):
    """Which save a request belongs to; also what activity logs are bound with."""

    account_id: str
    save_id: str
    playbook_id: str


class AccountSnapshot(_Contract):
    """The account as the save saw it when it opened."""

    account_id: str
    name: str
    tier: Tier
    arr: float
    renewal_date: date | None = None
    health: int | None = None
    usage_pct: float | None = None
    csm: str | None = None
    csm_id: str | None = None
    flags: tuple[AccountFlag, ...] = ()
    """Strategic and advocacy flags; triage weighs them beside ARR."""
    fit: Fit | None = None
    sponsor_status: SponsorStatus | None = None


class PlaybookRequest(_Contract):
    playbook_id: str | None = None
    kind: TriggerKind
    reason: CancellationReason | None = None


class CrmTaskRequest(_Contract):
    """Create a CRM task; ``key`` makes a retried request return the task it already created."""

    key: str
    save: SaveRef
    owner: OwnerRole
    title: str
    body: str = ""
    due_at: datetime
    at: datetime


class CrmTaskRef(_Contract):
    task_id: str
    owner_name: str | None = None


class OpeningRequest(_Contract):
    """What a new save reads before it can open: its account, its playbook and the triage rules."""

    account_id: str
    playbook: PlaybookRequest


class SaveOpening(_Contract):
    """Everything a save opens with, read in one activity; in history it is the save's snapshot of
    the account, the playbook version and the triage rules."""

    account: AccountSnapshot
    playbook: PlaybookDef
    triage_rules: TriageRules


class OpenInCrmRequest(_Contract):
    """Mark the account at risk and write the opening notes, in one call."""

    risk: RiskStatusRequest
    notes: list[NoteRequest]


class CrmTaskBatch(_Contract):
    """Tasks that open together, created in one call; each keeps its own idempotency key."""

    tasks: list[CrmTaskRequest]


class CrmTaskCreated(_Contract):
    """One task of a batch: created (``task_id``), or refused by the CRM for good (``refused``)."""

    key: str
    task_id: str | None = None
    owner_name: str | None = None
    refused: str | None = None
    error_type: str | None = None


class CrmTaskBatchResult(_Contract):
    tasks: list[CrmTaskCreated]


class CloseTasksRequest(_Contract):
    """Close CRM tasks at these keys and every task filed under them (their escalations)."""

    done: list[str] = Field(default_factory=list)
    cancelled: list[str] = Field(default_factory=list)
    at: datetime


class RiskStatusRequest(_Contract):
    save: SaveRef
    risk: RiskColour
    reason: str
    at: datetime


class NoteRequest(_Contract):
    key: str
    save: SaveRef
    text: str
    at: datetime


class HealthReading(_Contract):
    account_id: str
    health: int | None
    usage_pct: float | None = None
    read_at: datetime | None = None


OPERATIONS: Final = "operations"
"""The recipient of the notices that a save needs attention: the address in ``SAVES_OPS_EMAIL``."""


class EmailRequest(_Contract):
    """An email to send once: ``key`` is derived from the save and the step, never the run."""

    key: str
    save: SaveRef
    template: str
    to: Recipient | Literal["operations"]
    context: dict[str, Any] = Field(default_factory=dict)
    at: datetime
    resend: str | None = None
    """An operator's retry: an email at ``key`` that failed or whose delivery is unknown is sent
    once more, once for each distinct ``resend``."""


class EmailReceipt(_Contract):
    key: str
    status: str
    to_address: str | None
    subject: str


class EscalationRequest(_Contract):
    """Tell the next rung of the ladder that something is overdue: an email and a CRM task."""

    key: str
    save: SaveRef
    to: OwnerRole
    level: int
    item: str
    item_owner: OwnerRole
    due_at: datetime
    overdue_by: str
    respond_within_hours: int = 24
    context: dict[str, Any] = Field(default_factory=dict)
    at: datetime
    resend: str | None = None
    """An operator's retry: see :attr:`EmailRequest.resend`."""


class AssignOwnerRequest(_Contract):
    """Make ``owner_id`` the account's owner for ``role`` and move that role's open tasks to them."""

    save: SaveRef
    role: OwnerRole
    owner_id: str
    name: str
    email: str | None = None
    at: datetime


CRM_NAMES = {"sql": "the CRM", "hubspot": "HubSpot", "salesforce": "Salesforce"}


def crm_name(crm: str) -> str:
    """How the timeline names a CRM: ``Done in HubSpot by Sam Ortiz``."""
    return CRM_NAMES.get(crm, crm)


class InboundKind(StrEnum):
    """What was done in the CRM that a save must hear of."""

    TASK_COMPLETED = "task_completed"
    TASK_REOPENED = "task_reopened"
    CUSTOMER_TOUCH = "customer_touch"
    """A call, meeting or email with one of the account's contacts."""
    OWNER_CHANGED = "owner_changed"
    TASK_DELETED = "task_deleted"


class TouchChannel(StrEnum):
    CALL = "call"
    MEETING = "meeting"
    EMAIL = "email"


class InboundEvent(_Contract):
    """Something done in the CRM, in the CRM's own terms and time.

    ``key`` (the CRM, its event or object id, and its timestamp) is the same however often the
    event is delivered (a webhook retried, the reconciler reading it again), so a save applies it once.
    """

    crm: str
    """``sql``, ``hubspot`` or ``salesforce``."""
    kind: InboundKind
    source_id: str = Field(min_length=1, max_length=200)
    """The CRM's id of the event or of the object that changed."""
    at: datetime
    """When it happened, by the CRM's clock (a call logged late carries the time of the call)."""
    account_id: str | None = None
    task_key: str | None = None
    """The save's task key (``<save id>/task/<task id>...``) when the object is a save's task."""
    by: str | None = None
    """Who did it, as the CRM names them (``Sam Ortiz``)."""
    by_id: str | None = None
    channel: TouchChannel | None = None
    contact: str | None = None
    """The customer contact of a touch."""
    role: OwnerRole | None = None
    owner_id: str | None = None
    owner_name: str | None = None
    owner_email: str | None = None

    @property
    def key(self) -> str:
        return f"{self.crm}:{self.source_id}@{self.at.astimezone(UTC).isoformat()}"

    @property
    def save_id(self) -> str | None:
        """The save a task event belongs to (the first part of its task key)."""
        return self.task_key.split("/", 1)[0] if self.task_key else None


class ChangesPage(_Contract):
    """Inbound events since a cursor, oldest first; ``cursor`` is where the next read starts and
    ``more`` says whether another page is waiting already."""

    events: list[InboundEvent] = Field(default_factory=list)
    cursor: str | None = None
    more: bool = False


class CrmSyncReport(_Contract):
    """What one run of the CRM reconciler did."""

    read: int = 0
    delivered: int = 0
    """Events signalled to a running save."""
    without_save: int = 0
    """Events for an account with no running save (nothing to tell)."""
    cursor: str | None = None


class ActivityName(StrEnum):
    """Activity types the save engine calls. The engine calls them by name, so the workflow never
    imports the activity implementations (and never loads SQLAlchemy, Jinja2 or SMTP)."""

    FETCH_ACCOUNT = "fetch_account"
    LOAD_PLAYBOOK = "load_playbook"
    LOAD_TRIAGE_RULES = "load_triage_rules"
    CREATE_CRM_TASK = "create_crm_task"
    READ_SAVE_OPENING = "read_save_opening"
    OPEN_IN_CRM = "open_in_crm"
    CREATE_CRM_TASKS = "create_crm_tasks"
    CLOSE_CRM_TASKS = "close_crm_tasks"
    SET_RISK_STATUS = "set_risk_status"
    ADD_TIMELINE_NOTE = "add_timeline_note"
    READ_ACCOUNT_HEALTH = "read_account_health"
    ASSIGN_CRM_OWNER = "assign_crm_owner"
    SEND_EMAIL = "send_email"
    ESCALATE = "escalate"
    ARCHIVE_SAVE = "archive_save"
