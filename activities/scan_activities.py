"""The risk scan's one activity: read a page of accounts, colour them, start or join their saves.

Idempotent: trigger ids derive from the scan and the account, so a retried page joins the saves it
already started (a save records a trigger id once), and the page's writes are re-applied as-is.
"""

from __future__ import annotations

import asyncio
import hashlib
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio import activity

from activities.save_starter import SaveError, SaveStarter
from activities.scan_rules import RANK, AccountSignals, Verdict, evaluate, load_scan_rules
from activities.store.db import sessions
from activities.store.sql_crm import SqlCrm
from activities.store.tables import Account, RiskChange
from playbook_defs.loader import PLAYBOOK_DIR, load_playbooks
from playbook_defs.risk_rules import RiskScanRules, ScanRule
from playbook_defs.vocabulary import RiskColour, SponsorStatus
from workflows.models import Trigger
from workflows.scan_contracts import SCAN_ACCOUNTS, ScanBatchRequest, ScanBatchResult, ScanCounts

MAX_PROBLEMS = 5


def trigger_id(scan_id: str, account_id: str) -> str:
    tag = hashlib.sha1(scan_id.encode()).hexdigest()[:10]
    tid = f"scan-{tag}-{account_id}"
    return tid if len(tid) <= 128 else f"scan-{tag}-{hashlib.sha1(account_id.encode()).hexdigest()}"


def signals_of(row: Account) -> AccountSignals:
    return AccountSignals(
        account_id=row.id,
        usage_pct=row.usage_pct,
        health=row.health,
        onboarding_started=row.onboarding_started,
        live_since=row.live_since,
        renewal_date=row.renewal_date,
        renewal_likelihood=row.renewal_likelihood,
        payment_overdue_since=row.payment_overdue_since,
        last_business_review=row.last_business_review,
        sponsor_status=SponsorStatus(row.sponsor_status) if row.sponsor_status else None,
    )


def scan_trigger(scan_id: str, row: Account, verdict: Verdict, first: ScanRule) -> Trigger:
    """One trigger per account per scan: the first new red rule picks the playbook, all are noted."""
    assert first.trigger is not None
    signals: dict[str, float | int | str | bool] = {"rules": ",".join(r.id for r in verdict.fired)}
    for name in ("usage_pct", "health", "renewal_likelihood"):
        value = getattr(row, name)
        if value is not None:
            signals[name] = value
    return Trigger(
        trigger_id=trigger_id(scan_id, row.id),
        account_id=row.id,
        kind=first.trigger,
        source="risk_scan",
        note="; ".join(r.because for r in verdict.red)[:2000],
        signals=signals,
    )


class ScanActivities:
    def __init__(
        self, engine: AsyncEngine, crm: SqlCrm, playbook_dir: Path = PLAYBOOK_DIR, save_task_queue: str | None = None
    ) -> None:
        self.engine = engine
        self.crm = crm
        self.playbook_dir = playbook_dir
        self.save_task_queue = save_task_queue

    @activity.defn(name=SCAN_ACCOUNTS)
    async def scan_batch(self, request: ScanBatchRequest) -> ScanBatchResult:
        rules = load_scan_rules(self.playbook_dir)
        size = request.batch_size or rules.batch_size
        async with sessions(self.engine)() as session:
            query = select(Account).order_by(Account.id).limit(size)
            if request.after is not None:
                query = query.where(Account.id > request.after)
            rows = list((await session.execute(query)).scalars())
        today = request.as_of.date()
        verdicts = {row.id: evaluate(rules, signals_of(row), today) for row in rows}
        counts = ScanCounts(accounts=len(rows))
        triggered, failed, problems = await self._trigger_saves(request, rules, rows, verdicts, counts)
        await self._write(rows, verdicts, triggered, failed, request.as_of, counts)
        last = rows[-1].id if rows else request.after
        activity.logger.info("scanned accounts", extra={"after": request.after, "last": last, "accounts": len(rows)})
        return ScanBatchResult(
            counts=counts, last_id=last, done=len(rows) < size, batches_per_run=rules.batches_per_run, problems=problems
        )

    async def _trigger_saves(
        self,
        request: ScanBatchRequest,
        rules: RiskScanRules,
        rows: list[Account],
        verdicts: dict[str, Verdict],
        counts: ScanCounts,
    ) -> tuple[set[str], set[str], list[str]]:
        """Start or join a save for each account with a red rule that did not fire last scan."""
        queue = request.task_queue or self.save_task_queue or activity.info().task_queue
        saves = SaveStarter(activity.client(), queue, load_playbooks(self.playbook_dir), self.crm)
        gate = asyncio.Semaphore(rules.concurrent_triggers)
        triggered: set[str] = set()
        failed: set[str] = set()
        problems: list[str] = []

        async def fire(row: Account, first: ScanRule) -> None:
            async with gate:
                try:
                    result = await saves.trigger(scan_trigger(request.scan_id, row, verdicts[row.id], first))
                except SaveError as exc:
                    failed.add(row.id)
                    counts.trigger_failures += 1
                    if len(problems) < MAX_PROBLEMS:
                        problems.append(f"{row.id}: {exc}")
                    return
            triggered.add(row.id)
            if result.merged:
                counts.saves_joined += 1
            else:
                counts.saves_started += 1
            counts.by_rule[first.id] = counts.by_rule.get(first.id, 0) + 1

        jobs = []
        for row in rows:
            before = set(row.scan_fired or ())
            new = [r for r in verdicts[row.id].red if r.id not in before]
            if new:
                jobs.append(fire(row, new[0]))
        await asyncio.gather(*jobs)
        activity.heartbeat()
        return triggered, failed, problems

    async def _write(
        self,
        rows: list[Account],
        verdicts: dict[str, Verdict],
        triggered: set[str],
        failed: set[str],
        at: datetime,
        counts: ScanCounts,
    ) -> None:
        """Colour each account; a status a save set is raised by the scan but never lowered."""
        changes: list[dict[str, Any]] = []
        history: list[RiskChange] = []
        for row in rows:
            verdict = verdicts[row.id]
            setattr(counts, verdict.colour.value, getattr(counts, verdict.colour.value) + 1)
            fired = [r.id for r in verdict.fired]
            if row.id in failed:  # not started: let the next scan try again
                fired = [r for r in fired if r in (row.scan_fired or ())]
            current = RiskColour(row.risk_status)
            by_save = row.risk_set_by == "save"
            status, set_by = current, row.risk_set_by
            if row.id in triggered:  # its save owns the status from now on
                status, set_by = RiskColour.RED, "save"
            elif not (by_save and RANK[verdict.colour] <= RANK[current]):
                status = verdict.colour
                set_by = row.risk_set_by if by_save else "scan"
            if status is not current:
                counts.status_changed += 1
                reason = "; ".join(r.because for r in verdict.fired) or "no risk signal"
                history.append(
                    RiskChange(
                        account_id=row.id, save_id=None, status=status.value, reason=f"risk scan: {reason}", at=at
                    )
                )
            changes.append(
                {
                    "id": row.id,
                    "risk_status": status.value,
                    "risk_set_by": set_by,
                    "scan_fired": fired,
                    "scanned_at": at,
                }
            )
        if not changes:
            return
        async with sessions(self.engine)() as session, session.begin():
            await session.execute(update(Account), changes)
            session.add_all(history)
