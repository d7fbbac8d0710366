"""Finding saves with Temporal visibility queries: the filters a CS leader uses in the UI.

``saves list`` builds the same query text that a leader types into the Temporal UI's search box,
so a filter on the command line and a saved view in the UI always agree.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from temporalio.client import Client, WorkflowExecution, WorkflowExecutionStatus

from playbook_defs.vocabulary import OutcomeKind, RiskColour, Stage, Tier
from workflows import search_attributes as sa
from workflows.ids import account_of

_SAFE_VALUE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@:-]{0,127}$")
_MONEY = re.compile(r"^\$?(\d+(?:\.\d+)?)([kKmM]?)$")


class FilterError(ValueError):
    """A filter value that cannot go into a visibility query; the message names the filter."""


def parse_money(text: str, what: str = "--arr-above") -> float:
    """``120000``, ``120k``, ``$1.2M`` as a number of dollars."""
    found = _MONEY.match(text.strip().replace(",", "").replace("_", ""))
    if not found:
        raise FilterError(f"{what} {text!r}: write an amount like 120000, 120k or 1.2M")
    amount, unit = float(found.group(1)), found.group(2).lower()
    return amount * {"": 1, "k": 1_000, "m": 1_000_000}[unit]


def _quoted(value: str, what: str) -> str:
    """A value as a query literal; only id-like values are accepted, so nothing needs escaping."""
    if not _SAFE_VALUE.match(value):
        raise FilterError(f"{what} {value!r}: use letters, digits, '.', '_', '-', '@' or ':'")
    return f"'{value}'"


def _one_of(name: str, values: Sequence[str], what: str) -> str:
    literals = [_quoted(v, what) for v in values]
    if len(literals) == 1:
        return f"{name} = {literals[0]}"
    return f"{name} IN ({', '.join(literals)})"


def _moment(at: datetime) -> str:
    return f"'{at.strftime('%Y-%m-%dT%H:%M:%SZ')}'"


@dataclass(frozen=True)
class SaveFilter:
    """What to look for; every field left empty matches every save."""

    playbooks: Sequence[str] = ()
    stages: Sequence[Stage] = ()
    owner: str | None = None
    risks: Sequence[RiskColour] = ()
    tiers: Sequence[Tier] = ()
    outcomes: Sequence[OutcomeKind] = ()
    account: str | None = None
    overdue: bool = False
    sla_broken: bool = False
    needs_attention: bool = False
    escalated_to_level: int | None = None
    arr_above: float | None = None
    arr_below: float | None = None
    deadline_within: timedelta | None = None
    check_within: timedelta | None = None
    include_closed: bool = False
    extra: Sequence[str] = field(default_factory=tuple)

    def query(self, now: datetime) -> str:
        """The visibility query, as typed into the Temporal UI's search box."""
        parts = ["WorkflowType = 'Save'"]
        if self.include_closed:
            parts.append("ExecutionStatus != 'ContinuedAsNew'")  # one row per save, its latest run
        else:
            parts.append("ExecutionStatus = 'Running'")
        if self.account:
            parts.append(f"{sa.ACCOUNT_ID.name} = {_quoted(self.account, '--account')}")
        if self.playbooks:
            parts.append(_one_of(sa.PLAYBOOK.name, self.playbooks, "--playbook"))
        if self.stages:
            parts.append(_one_of(sa.STAGE.name, [s.value for s in self.stages], "--stage"))
        if self.owner:
            parts.append(f"{sa.OWNER.name} = {_quoted(self.owner, '--owner')}")
        if self.risks:
            parts.append(_one_of(sa.RISK.name, [r.value for r in self.risks], "--risk"))
        if self.tiers:
            parts.append(_one_of(sa.TIER.name, [t.value for t in self.tiers], "--tier"))
        if self.outcomes:
            parts.append(_one_of(sa.OUTCOME.name, [o.value for o in self.outcomes], "--outcome"))
        if self.overdue:
            parts.append(f"{sa.OVERDUE_COUNT.name} > 0")
        if self.sla_broken:
            parts.append(f"{sa.FIRST_CONTACT_BROKEN.name} = true")
        if self.needs_attention:
            parts.append(f"{sa.NEEDS_ATTENTION.name} = true")
        if self.escalated_to_level is not None:
            if self.escalated_to_level < 1:
                raise FilterError(f"--escalated {self.escalated_to_level}: the first level is 1")
            parts.append(f"{sa.ESCALATION_LEVEL.name} >= {self.escalated_to_level}")
        if self.arr_above is not None:
            parts.append(f"{sa.ARR.name} > {self.arr_above:.2f}")
        if self.arr_below is not None:
            parts.append(f"{sa.ARR.name} < {self.arr_below:.2f}")
        if self.deadline_within is not None:
            parts.append(f"{sa.NEXT_DEADLINE.name} <= {_moment(now + self.deadline_within)}")
        if self.check_within is not None:
            parts.append(f"{sa.NEXT_CHECK.name} <= {_moment(now + self.check_within)}")
        parts += [f"({text})" for text in self.extra]
        return " AND ".join(parts)


@dataclass(frozen=True)
class SaveRow:
    """One save as the list shows it: only what its search attributes say."""

    workflow_id: str
    run_id: str
    running: bool
    started_at: datetime
    account_id: str | None
    playbook: str | None
    stage: str | None
    risk: str | None
    tier: str | None
    owner: str | None
    arr: float | None
    outcome: str | None
    first_contact_broken: bool | None
    escalation_level: int | None
    overdue_count: int | None
    next_deadline: datetime | None
    next_check: datetime | None
    needs_attention: bool | None = None

    @classmethod
    def of(cls, execution: WorkflowExecution) -> SaveRow:
        attrs = execution.typed_search_attributes
        return cls(
            workflow_id=execution.id,
            run_id=execution.run_id,
            running=execution.status is WorkflowExecutionStatus.RUNNING,
            started_at=execution.start_time,
            account_id=attrs.get(sa.ACCOUNT_ID),
            playbook=attrs.get(sa.PLAYBOOK),
            stage=attrs.get(sa.STAGE),
            risk=attrs.get(sa.RISK),
            tier=attrs.get(sa.TIER),
            owner=attrs.get(sa.OWNER),
            arr=attrs.get(sa.ARR),
            outcome=attrs.get(sa.OUTCOME),
            first_contact_broken=attrs.get(sa.FIRST_CONTACT_BROKEN),
            escalation_level=attrs.get(sa.ESCALATION_LEVEL),
            overdue_count=attrs.get(sa.OVERDUE_COUNT),
            next_deadline=attrs.get(sa.NEXT_DEADLINE),
            next_check=attrs.get(sa.NEXT_CHECK),
            needs_attention=attrs.get(sa.NEEDS_ATTENTION),
        )

    @property
    def account(self) -> str:
        return self.account_id or account_of(self.workflow_id)


def _urgency(row: SaveRow) -> tuple[int, int, datetime]:
    """Most overdue first, then the soonest deadline."""
    latest = datetime.max.replace(tzinfo=row.started_at.tzinfo)
    return (-(row.overdue_count or 0), -(row.escalation_level or 0), row.next_deadline or latest)


async def list_saves(client: Client, query: str, limit: int = 500) -> list[SaveRow]:
    """The saves that answer ``query``, the most urgent first."""
    rows = [SaveRow.of(execution) async for execution in client.list_workflows(query, limit=limit)]
    return sorted(rows, key=_urgency)


VIEWS: dict[str, tuple[str, SaveFilter]] = {
    "past-48-hours": ("All saves past the 48-hour rule", SaveFilter(sla_broken=True)),
    "enterprise-escalated": (
        "Enterprise saves in escalation",
        SaveFilter(tiers=[Tier.ENTERPRISE], escalated_to_level=1),
    ),
    "recovery-check-this-week": (
        "Saves in recovery with a check due within 7 days",
        SaveFilter(stages=[Stage.RECOVERY], check_within=timedelta(days=7)),
    ),
    "overdue": ("Saves with something overdue", SaveFilter(overdue=True)),
    "needs-attention": (
        "Saves with a step that failed for good (an email or CRM write waiting for an operator)",
        SaveFilter(needs_attention=True),
    ),
}
"""The views a CS leader saves in the Temporal UI; ``saves views`` prints their queries for today."""
