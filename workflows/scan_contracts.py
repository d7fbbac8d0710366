"""What the risk scan workflow and its batch activity pass each other. Small on purpose: a batch
returns counts and a cursor, never the accounts, so a 10,000-account scan keeps a short history."""

from __future__ import annotations

from datetime import datetime

from pydantic import ConfigDict, Field

from playbook_defs.values import SafeModel

SCAN_ACCOUNTS = "scan_accounts"
"""The activity that scans one page of accounts (the workflow calls it by this name)."""


class _Model(SafeModel):
    model_config = ConfigDict(extra="forbid")


class ScanBatchRequest(_Model):
    scan_id: str
    """Identifies the scan in trigger ids, so a retried batch merges into the saves it started."""
    as_of: datetime
    after: str | None = None
    """Scan accounts whose id sorts after this one (keyset paging)."""
    batch_size: int | None = None
    task_queue: str | None = None
    """Where the saves it starts run; default: the scan worker's own task queue."""


class ScanCounts(_Model):
    accounts: int = 0
    green: int = 0
    yellow: int = 0
    red: int = 0
    status_changed: int = 0
    saves_started: int = 0
    saves_joined: int = 0
    trigger_failures: int = 0
    by_rule: dict[str, int] = Field(default_factory=dict)
    """Red-rule firings that reached a save, by rule id."""

    def add(self, other: ScanCounts) -> None:
        for name in (
            "accounts",
            "green",
            "yellow",
            "red",
            "status_changed",
            "saves_started",
            "saves_joined",
            "trigger_failures",
        ):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        for rule, count in other.by_rule.items():
            self.by_rule[rule] = self.by_rule.get(rule, 0) + count


class ScanBatchResult(_Model):
    counts: ScanCounts
    last_id: str | None
    done: bool
    batches_per_run: int
    problems: list[str] = Field(default_factory=list)
    """Up to a few trigger failures, with the account and the reason."""


class ScanInput(_Model):
    """Everything optional: a scheduled scan starts with ``ScanInput()``; continue-as-new fills it."""

    scan_id: str | None = None
    as_of: datetime | None = None
    after: str | None = None
    batch_size: int | None = None
    batches_per_run: int | None = None
    task_queue: str | None = None
    counts: ScanCounts = Field(default_factory=ScanCounts)
    batches: int = 0
    runs: int = 1
    events_per_run: list[int] = Field(default_factory=list)
    problems: list[str] = Field(default_factory=list)


class ScanReport(_Model):
    scan_id: str
    as_of: datetime
    counts: ScanCounts
    batches: int
    runs: int
    events_per_run: list[int]
    """History length of each run as it ended (the last run's before completing)."""
    problems: list[str]
