"""The pydantic schema every playbook YAML file is validated against at load time.

A playbook says which triggers it answers, which steps a save runs (tasks for people, automated
emails, CRM risk-status changes) with their timing, owners and escalation ladders, and what
happens after the outcome. The engine in ``workflows/`` interprets it; nothing here runs.
"""

from __future__ import annotations

from datetime import timedelta
from enum import StrEnum
from itertools import pairwise
from typing import Annotated, Final, Literal, Self

from pydantic import (
    AfterValidator,
    ConfigDict,
    Field,
    ValidationInfo,
    model_validator,
)

from playbook_defs.durations import Duration
from playbook_defs.values import SafeModel
from playbook_defs.vocabulary import (
    STEP_STAGES,
    CancellationReason,
    OwnerRole,
    RiskColour,
    Stage,
    Tier,
    TriggerKind,
)

CUSTOMER: Final = "customer"
"""Email recipient meaning the account's primary customer contact."""


def _known_template(name: str, info: ValidationInfo) -> str:
    """Reject template names that have no file, when the loader tells us which exist."""
    known = (info.context or {}).get("templates")
    if known is not None and name not in known:
        raise ValueError(f"unknown email template {name!r} (known: {', '.join(sorted(known))})")
    return name


TemplateName = Annotated[str, AfterValidator(_known_template)]
StepId = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$", max_length=64)]
Recipient = Literal["customer"] | OwnerRole


class _Frozen(SafeModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class EscalationLevel(_Frozen):
    """Once the item is overdue by ``after``, notify the owner of role ``to``."""

    after: Duration
    to: OwnerRole


def _check_ladder(ladder: tuple[EscalationLevel, ...] | None, field: str = "") -> None:
    if ladder and any(b.after < a.after for a, b in pairwise(ladder)):
        raise ValueError(
            f"{field + ': ' if field else ''}escalation levels must be listed in order of their 'after' delay"
        )


def _not_to_self(ladder: tuple[EscalationLevel, ...] | None, owner: OwnerRole | None, field: str = "") -> None:
    """An escalation tells someone else that the owner is late; to the owner it says nothing new."""
    for n, level in enumerate(ladder or ()):
        if owner is not None and level.to is owner:
            raise ValueError(
                f"{field + ': ' if field else ''}escalation[{n}] escalates to {owner.value}, "
                "the owner itself; escalate to someone else (e.g. their manager)"
            )


_ABOVE: Final = {
    OwnerRole.CSM: OwnerRole.CS_MANAGER,
    OwnerRole.CS_MANAGER: OwnerRole.HEAD_OF_CS,
    OwnerRole.HEAD_OF_CS: OwnerRole.EXECUTIVE_SPONSOR,
    OwnerRole.EXECUTIVE_SPONSOR: OwnerRole.HEAD_OF_CS,
}
"""Whom the error message suggests escalating an owner's overdue item to."""


class StepKind(StrEnum):
    TASK = "task"
    EMAIL = "email"
    RISK_STATUS = "risk_status"


class Step(_Frozen):
    """One thing the save does: a task for a person, an email, or a CRM risk-status change.

    A step opens once ``start_after`` has passed since the save opened *and* every step in
    ``depends_on`` is done. A task is then due ``due_within`` after it opened.
    """

    id: StepId
    title: str = Field(min_length=1)
    kind: StepKind = StepKind.TASK
    stage: Stage = Stage.INTERVENTION
    owner: OwnerRole | None = None
    guidance: str = ""
    start_after: Duration = timedelta(0)
    due_within: Duration | None = None
    depends_on: tuple[StepId, ...] = ()
    escalation: tuple[EscalationLevel, ...] | None = None
    tiers: tuple[Tier, ...] | None = None
    template: TemplateName | None = None
    to: Recipient | None = None
    risk: RiskColour | None = None
    first_contact: bool = False
    completed_by: Literal["root_cause"] | None = None

    @model_validator(mode="after")
    def _fields_for_kind(self) -> Self:
        if self.stage not in STEP_STAGES:
            raise ValueError(f"stage must be one of {', '.join(STEP_STAGES)}")
        _check_ladder(self.escalation)
        _not_to_self(self.escalation, self.owner)
        if self.kind is StepKind.TASK:
            if self.owner is None:
                raise ValueError("a task needs an 'owner' role")
            if self.due_within is None and not self.first_contact:
                raise ValueError("a task needs 'due_within'")
        elif self.kind is StepKind.EMAIL:
            if self.template is None or self.to is None:
                raise ValueError("an email step needs 'template' and 'to'")
        elif self.risk is None:
            raise ValueError("a risk_status step needs 'risk' (green, yellow or red)")
        if self.first_contact and (self.kind is not StepKind.TASK or self.tiers is not None):
            raise ValueError("the first-contact step must be a task that applies to every tier")
        return self

    def applies_to(self, tier: Tier) -> bool:
        return self.tiers is None or tier in self.tiers


class Cadence(_Frozen):
    """The weekly rhythm while a save is open: a progress update every week, without fail, keeps the
    customer trusting the save."""

    customer_update_every: Duration = timedelta(days=7)
    customer_update_template: TemplateName = "weekly_update"
    internal_status_every: Duration = timedelta(days=7)
    internal_status_template: TemplateName = "internal_status"
    internal_status_to: OwnerRole = OwnerRole.CS_MANAGER


class Criterion(_Frozen):
    id: StepId
    text: str


class OutcomePolicy(_Frozen):
    """When an outcome is expected, who hears if it is late, and what counts as success."""

    deadline: Duration
    escalation: tuple[EscalationLevel, ...] = (EscalationLevel(after=timedelta(0), to=OwnerRole.CS_MANAGER),)
    success_criteria: tuple[Criterion, ...] = Field(min_length=1)


class ConcessionPolicy(_Frozen):
    """Guardrail on discounts: above the threshold a commitment needs the approver's sign-off."""

    max_discount_pct_without_approval: float = Field(ge=0, le=100)
    approver: OwnerRole
    approval_due_within: Duration = timedelta(days=2)
    guidance: str = ""


class RecoveryCheck(_Frozen):
    """A check on the saved customer (30-day check-in, 60-day value review, 90-day QBR)."""

    id: StepId
    title: str
    at: Duration
    owner: OwnerRole = OwnerRole.CSM
    due_within: Duration = timedelta(days=3)
    template: TemplateName | None = None
    escalation: tuple[EscalationLevel, ...] | None = None

    @model_validator(mode="after")
    def _ladder(self) -> Self:
        _check_ladder(self.escalation)
        _not_to_self(self.escalation, self.owner)
        return self


class RecoveryPlan(_Frozen):
    """The 90-day save-recovery period after a saved or partially saved outcome."""

    duration: Duration = timedelta(days=90)
    checks: tuple[RecoveryCheck, ...] = Field(min_length=1)
    touchpoint_every: Duration = timedelta(days=7)
    touchpoint_owner: OwnerRole = OwnerRole.CSM
    touchpoint_due_within: Duration = timedelta(days=2)
    value_report_every: Duration = timedelta(days=30)
    value_report_template: TemplateName = "value_report"
    relapse_health_below: int = Field(ge=0, le=100)
    close_grace: Duration = timedelta(days=14)

    @model_validator(mode="after")
    def _checks_inside_period(self) -> Self:
        ids = [c.id for c in self.checks]
        if len(set(ids)) != len(ids):
            raise ValueError(f"duplicate recovery check id in {ids}")
        for check in self.checks:
            if check.at > self.duration:
                raise ValueError(f"recovery check {check.id!r} falls after the recovery period")
        return self


class ExitPlan(_Frozen):
    """What a lost save still does: an exit interview and a graceful goodbye (a lost customer may come
    back, and their reasons teach the next save)."""

    owner: OwnerRole = OwnerRole.CSM
    due_within: Duration = timedelta(days=14)
    escalation: tuple[EscalationLevel, ...] = (EscalationLevel(after=timedelta(days=3), to=OwnerRole.CS_MANAGER),)
    template: TemplateName = "exit_interview"
    close_after: Duration = timedelta(days=30)

    @model_validator(mode="after")
    def _ladder(self) -> Self:
        _check_ladder(self.escalation)
        _not_to_self(self.escalation, self.owner)
        return self


class Milestone(_Frozen):
    at: Duration
    name: str


class PlaybookDef(_Frozen):
    """One save playbook, as loaded from ``playbook_defs/<id>.yaml``."""

    id: StepId
    name: str = Field(min_length=1)
    version: int = Field(ge=1)
    summary: str = ""
    digest: str = ""
    triggers: tuple[TriggerKind, ...] = Field(min_length=1)
    cancellation_reasons: tuple[CancellationReason, ...] = ()
    roles: dict[OwnerRole, str] = Field(default_factory=dict)
    first_contact_within: Duration = timedelta(hours=48)
    default_escalation: tuple[EscalationLevel, ...] = Field(min_length=1)
    steps: tuple[Step, ...] = Field(min_length=1)
    cadence: Cadence = Cadence()
    commitment_escalation: tuple[EscalationLevel, ...] = Field(min_length=1)
    help_due_within: Duration = timedelta(hours=48)
    outcome: OutcomePolicy
    concessions: ConcessionPolicy | None = None
    recovery: RecoveryPlan
    exit: ExitPlan = ExitPlan()
    milestones: tuple[Milestone, ...] = ()
    demo_speed: int | None = Field(default=None, ge=1)
    """Set only on the demo clock's copies (``saves up --demo``): every duration was divided by it."""

    @model_validator(mode="after")
    def _steps_fit_together(self) -> Self:
        # Whole-playbook checks have no pydantic location: each message starts with its field.
        seen: set[str] = set()
        for n, step in enumerate(self.steps):
            if step.id in seen:
                raise ValueError(f"steps[{n}].id: duplicate step id {step.id!r}")
            seen.add(step.id)
        for n, step in enumerate(self.steps):
            for dep in step.depends_on:
                if dep not in seen:
                    raise ValueError(f"steps[{n}] (id {step.id!r}).depends_on: unknown step {dep!r}")
        first = [s.id for s in self.steps if s.first_contact]
        if len(first) != 1:
            raise ValueError(
                f"steps: exactly one step must be the first-contact call (first_contact: true); found {first}"
            )
        if seen & {c.id for c in self.recovery.checks}:
            raise ValueError("recovery.checks: recovery check ids must differ from step ids")
        _check_ladder(self.default_escalation, "default_escalation")
        _check_ladder(self.commitment_escalation, "commitment_escalation")
        self._reject_cycles()
        return self

    def _reject_cycles(self) -> None:
        deps = {s.id: s.depends_on for s in self.steps}
        done: set[str] = set()

        def visit(node: str, path: tuple[str, ...]) -> None:
            if node in path:
                raise ValueError(f"steps: steps depend on each other in a cycle: {' -> '.join((*path, node))}")
            if node in done:
                return
            for dep in deps[node]:
                visit(dep, (*path, node))
            done.add(node)

        for step_id in deps:
            visit(step_id, ())

    def step(self, step_id: str) -> Step:
        for step in self.steps:
            if step.id == step_id:
                return step
        raise KeyError(step_id)

    def ladder(self, step: Step) -> tuple[EscalationLevel, ...]:
        return step.escalation if step.escalation is not None else self.default_escalation

    def inherited_self_escalations(self) -> list[str]:
        """Steps and recovery checks without a ladder of their own whose ``default_escalation``
        would escalate them to their own owner, one ``"<field>: <problem>"`` line each.

        The loader refuses such a file. This is not a model validator on purpose: a running save
        carries the playbook it started with in its history and state, and a save started before
        this rule must still load its playbook when it replays or continues as new.
        """
        items: list[tuple[str, OwnerRole | None, str]] = [
            (f"steps[{n}] (id {s.id!r}).escalation", s.owner, "step")
            for n, s in enumerate(self.steps)
            if s.escalation is None
        ]
        items += [
            (f"recovery.checks[{n}] (id {c.id!r}).escalation", c.owner, "recovery check")
            for n, c in enumerate(self.recovery.checks)
            if c.escalation is None
        ]
        problems = []
        for field, owner, what in items:
            level = next((n for n, lv in enumerate(self.default_escalation, start=1) if lv.to is owner), None)
            if owner is None or level is None:
                continue
            problems.append(
                f"{field}: not set, so this {what} takes default_escalation, whose level {level} escalates "
                f"to {owner.value}, the {what}'s own owner; give the {what} an escalation ladder to someone "
                f"else (e.g. {_ABOVE.get(owner, OwnerRole.CS_MANAGER).value}) or change default_escalation"
            )
        return problems

    @property
    def first_contact_step(self) -> Step:
        return next(s for s in self.steps if s.first_contact)
