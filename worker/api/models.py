"""What the HTTP API accepts and answers, beyond the workflow's own request models."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from playbook_defs.values import Moment, SafeModel
from playbook_defs.vocabulary import CancellationReason, TriggerKind
from workflows.models import (
    AccountId,
    AttentionStatus,
    Name,
    NeedsAttention,
    SaveState,
    ShortText,
    SignalValue,
    TriggerRecord,
)

EventId = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=128)]


class _Body(SafeModel):
    model_config = ConfigDict(extra="forbid")


class TriggerReport(_Body):
    """A risk signal for an account, as a CRM webhook, the risk scan or a person reports it."""

    event_id: EventId | None = Field(
        default=None,
        description="The sender's id for this event. A redelivery with the same id is "
        "a no-op that returns the first answer; it is also the trigger's id on the save.",
    )
    account_id: AccountId
    kind: TriggerKind
    reason: CancellationReason | None = Field(
        default=None,
        description="For a cancellation request (or a manual trigger): the stated reason, which picks the playbook.",
    )
    playbook: str | None = Field(
        default=None, max_length=100, description="Run this playbook instead of the routed one."
    )
    source: Name = Field(default="webhook", description="Where the signal came from, e.g. salesforce.")
    note: str = Field(default="", max_length=2000)
    signals: dict[Annotated[str, StringConstraints(min_length=1, max_length=100)], SignalValue] = Field(
        default_factory=dict, max_length=50, description='Signal values behind the trigger, e.g. {"usage_pct": 31}.'
    )
    rule: Name | None = Field(default=None, description="The detection rule that fired.")
    rule_version: Annotated[str, StringConstraints(min_length=1, max_length=64)] | None = None
    observed_at: Moment | None = Field(
        default=None, description="When the source saw the signal (ISO 8601 with a time zone)."
    )
    reported_by: Name | None = None


class TriggerAccepted(BaseModel):
    account_id: str
    workflow_id: str
    run_id: str | None
    trigger_id: str
    playbook: str = Field(description="The playbook of the save this trigger started or joined.")
    started: bool = Field(
        description="True if this trigger started the save; false if it joined "
        "the save already running for the account."
    )


class SaveSummary(BaseModel):
    """One save as the Temporal visibility store lists it."""

    account_id: str
    workflow_id: str
    run_id: str
    status: str
    playbook: str | None = None
    stage: str | None = None
    risk: str | None = None
    tier: str | None = None
    arr: float | None = None
    owner_id: str | None = None
    overdue: int | None = None
    needs_attention: bool | None = Field(
        default=None, description="True while a step that failed for good waits for an operator."
    )
    started_at: datetime | None = None
    closed_at: datetime | None = None


class SaveView(BaseModel):
    """One save: where it stands in plain words, why it started, and its whole state."""

    account_id: str
    workflow_id: str
    details: str = Field(description="Where the save stands, in markdown (as in the Temporal UI).")
    why: TriggerRecord = Field(description="The trigger that started this save, with its snapshot.")
    triggers: list[TriggerRecord]
    state: SaveState


class CompleteTaskBody(_Body):
    by: Name | None = None
    note: str = Field(default="", max_length=2000)
    approved: bool = Field(default=True, description="Only for approval tasks: false rejects the concession.")


class FulfilBody(_Body):
    by: Name | None = None
    note: str = Field(default="", max_length=2000)


class RetryAttentionBody(_Body):
    by: Name = Field(description="Who decides (recorded on the save).")
    reason: str = Field(default="", max_length=2000, description="What was fixed.")


class SkipAttentionBody(_Body):
    by: Name = Field(description="Who decides (recorded on the save).")
    reason: ShortText = Field(description="Why the step is left undone.")


class AttentionAnswer(BaseModel):
    """A step that needed attention after an operator's decision: ``resolved`` when the retry worked,
    ``open`` when it failed again (the last decision says why), ``skipped``."""

    account_id: str
    status: AttentionStatus
    item: NeedsAttention


class FieldProblem(BaseModel):
    field: str
    message: str


class ErrorBody(BaseModel):
    """Every error the API returns has this shape."""

    error: str
    message: str
    fields: list[FieldProblem] = Field(default_factory=list)
