"""What goes in and out of activities. Plain pydantic models, safe to import into workflows."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Any

from pydantic import ConfigDict, Field

from playbook_defs.schema import Recipient
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


class EmailRequest(_Contract):
    """An email to send once: ``key`` is derived from the save and the step, never the run."""

    key: str
    save: SaveRef
    template: str
    to: Recipient
    context: dict[str, Any] = Field(default_factory=dict)
    at: datetime


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


class AssignOwnerRequest(_Contract):
    """Make ``owner_id`` the account's owner for ``role`` and move that role's open tasks to them."""

    save: SaveRef
    role: OwnerRole
    owner_id: str
    name: str
    email: str | None = None
    at: datetime


class ActivityName(StrEnum):
    """Activity types the save engine calls. The engine calls them by name, so the workflow never
    imports the activity implementations (and the sandbox never loads SQLAlchemy, Jinja2 or SMTP)."""

    FETCH_ACCOUNT = "fetch_account"
    LOAD_PLAYBOOK = "load_playbook"
    LOAD_TRIAGE_RULES = "load_triage_rules"
    CREATE_CRM_TASK = "create_crm_task"
    CLOSE_CRM_TASKS = "close_crm_tasks"
    SET_RISK_STATUS = "set_risk_status"
    ADD_TIMELINE_NOTE = "add_timeline_note"
    READ_ACCOUNT_HEALTH = "read_account_health"
    ASSIGN_CRM_OWNER = "assign_crm_owner"
    SEND_EMAIL = "send_email"
    ESCALATE = "escalate"
    ARCHIVE_SAVE = "archive_save"
