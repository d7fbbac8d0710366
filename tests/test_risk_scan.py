"""The daily risk scan: trigger rules at their thresholds, and a 10,000-account scan end to end."""

from __future__ import annotations

import time
import uuid
from collections import Counter
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select
from temporalio.api.enums.v1 import EventType
from temporalio.service import RPCError, RPCStatusCode
from temporalio.testing import WorkflowEnvironment

from activities.scan_activities import signals_of
from activities.scan_rules import AccountSignals, evaluate, load_scan_rules
from activities.store.crm_generate import add_generated_accounts
from activities.store.db import sessions
from activities.store.tables import Account
from playbook_defs.vocabulary import RiskColour, SponsorStatus
from tests.harness import Harness, SmtpSink
from tests.stores import BACKENDS, store_url
from worker.runtime.settings import Settings
from workflows.contracts import RiskStatusRequest, SaveRef
from workflows.ids import save_workflow_id
from workflows.risk_scan import RiskScanWorkflow
from workflows.scan_contracts import ScanInput, ScanReport

TODAY = date(2026, 11, 2)
RULES = load_scan_rules()


def _fired(**signals: object) -> list[str]:
    verdict = evaluate(RULES, AccountSignals(account_id="a", **signals), TODAY)  # type: ignore[arg-type]
    return [r.id for r in verdict.red]


@pytest.mark.parametrize(
    ("signals", "red_rule"),
    [
        ({"onboarding_started": TODAY - timedelta(days=31)}, "onboarding_delayed"),
        ({"usage_pct": 49.5}, "low_usage"),
        ({"renewal_date": TODAY + timedelta(days=179), "renewal_likelihood": 74}, "renewal_at_risk"),
        ({"payment_overdue_since": TODAY - timedelta(days=91)}, "payment_past_due"),
        ({"last_business_review": TODAY - timedelta(days=181)}, "no_business_review"),
        ({"sponsor_status": SponsorStatus.LOST}, "sponsor_lost"),
        ({"health": 39}, "health_red"),
    ],
)
def test_each_trigger_rule_fires_past_its_threshold(signals: dict[str, object], red_rule: str) -> None:
    assert _fired(**signals) == [red_rule]


@pytest.mark.parametrize(
    "signals",
    [
        {"onboarding_started": TODAY - timedelta(days=30)},
        {"onboarding_started": TODAY - timedelta(days=90), "live_since": TODAY - timedelta(days=40)},
        {"usage_pct": 50},
        {"renewal_date": TODAY + timedelta(days=180), "renewal_likelihood": 50},
        {"renewal_date": TODAY + timedelta(days=30), "renewal_likelihood": 75},
        {"renewal_date": TODAY - timedelta(days=3), "renewal_likelihood": 10},
        {"payment_overdue_since": TODAY - timedelta(days=90)},
        {"last_business_review": TODAY - timedelta(days=180)},
        {"sponsor_status": SponsorStatus.DISENGAGED},
        {"health": 40},
        {},
    ],
)
def test_no_rule_fires_at_or_inside_its_threshold(signals: dict[str, object]) -> None:
    assert _fired(**signals) == []


def test_leading_indicators_colour_yellow_without_a_save() -> None:
    verdict = evaluate(RULES, AccountSignals(account_id="a", usage_pct=60, health=80), TODAY)
    assert verdict.colour is RiskColour.YELLOW and verdict.red == ()
    assert evaluate(RULES, AccountSignals(account_id="a", usage_pct=90), TODAY).colour is RiskColour.GREEN


async def _scan(h: Harness, queue: str, **kw: object) -> tuple[ScanReport, list[int]]:
    scan_id = f"risk-scan-test-{uuid.uuid4().hex[:6]}"
    handle = await h.client.start_workflow(
        RiskScanWorkflow.run,
        ScanInput(task_queue=queue, **kw),
        id=scan_id,
        task_queue=h.saves.task_queue,
    )
    report = await handle.result()
    lengths = []
    run_id: str | None = handle.first_execution_run_id
    while run_id:
        history = await h.client.get_workflow_handle(scan_id, run_id=run_id).fetch_history()
        lengths.append(len(history.events))
        last = history.events[-1]
        run_id = (
            last.workflow_execution_continued_as_new_event_attributes.new_execution_run_id
            if last.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW
            else None
        )
    return report, lengths


async def _running(h: Harness, account_id: str) -> bool:
    try:
        desc = await h.client.get_workflow_handle(save_workflow_id(account_id)).describe()
    except RPCError as exc:
        if exc.status is RPCStatusCode.NOT_FOUND:
            return False
        raise
    return desc.status is not None and desc.status.name == "RUNNING"


async def test_a_scan_of_10000_accounts_colours_them_and_starts_one_save_per_red_account(
    harness: Harness, capsys: pytest.CaptureFixture[str]
) -> None:
    now: datetime = await harness.now()
    await add_generated_accounts(harness.services.engine, 10_000, now.date())
    parked = f"parked-saves-{uuid.uuid4().hex[:6]}"  # saves start there; no worker runs them here

    started = time.monotonic()
    report, lengths = await _scan(harness, parked, as_of=now)
    seconds = time.monotonic() - started

    async with sessions(harness.services.engine)() as session:
        rows = list((await session.execute(select(Account))).scalars())
    colours = Counter(r.risk_status for r in rows)
    red = [
        r
        for r in rows
        if r.scan_fired and any(f in {x.id for x in RULES.rules if x.colour == "red"} for f in r.scan_fired)
    ]
    c = report.counts
    assert c.accounts == len(rows) == 10_010  # the generated accounts and the demo CRM's ten
    assert (c.green, c.yellow, c.red) == (colours["green"], colours["yellow"], colours["red"])
    assert c.red == len(red) and c.saves_started == c.red and c.saves_joined == 0
    assert c.trigger_failures == 0 and sum(c.by_rule.values()) == c.red
    assert report.batches == 21 and report.runs == 1 and len(lengths) == 1
    assert lengths[0] < 150  # about six events a page, whatever the number of accounts per page
    assert await _running(harness, red[0].id) and await _running(harness, red[-1].id)
    green = next(r for r in rows if r.risk_status == "green")
    assert not await _running(harness, green.id)

    # Scanning again the same day: standing conditions open nothing again; a new red signal on an
    # account with a save joins it, on a green account starts one. Small pages continue as new.
    joining = next(r for r in red if "sponsor_lost" not in r.scan_fired)
    async with sessions(harness.services.engine)() as session, session.begin():
        (await session.get(Account, joining.id)).sponsor_status = "lost"
        (await session.get(Account, green.id)).usage_pct = 20.0
    again, again_lengths = await _scan(harness, parked, as_of=now, batch_size=1000, batches_per_run=4)
    assert (again.counts.saves_started, again.counts.saves_joined) == (1, 1)
    assert again.counts.by_rule == {"sponsor_lost": 1, "low_usage": 1}
    assert await _running(harness, green.id)
    assert again.runs == 3 and len(again_lengths) == 3 and again.batches == 11
    assert max(again_lengths) < 40
    async with sessions(harness.services.engine)() as session:
        query = select(func.count()).where(Account.scanned_at.is_not(None))
        scanned = (await session.execute(query)).scalar()
    assert scanned == 10_010
    with capsys.disabled():
        print(
            f"\nrisk scan of {c.accounts:,} accounts: green {c.green:,}, yellow {c.yellow:,},"
            f" red {c.red:,};"
            f" saves started {c.saves_started:,} ({dict(sorted(c.by_rule.items()))});"
            f" {report.batches} pages in {report.runs} run(s); history events per run {lengths};"
            f" {seconds:.1f} s on the time-skipping server.\n"
            f"same-day re-scan (1,000-account pages, 4 per run):"
            f" saves started {again.counts.saves_started},"
            f" joined {again.counts.saves_joined},"
            f" runs {again.runs}, history events per run {again_lengths}"
        )


@pytest.mark.parametrize("backend", BACKENDS)
async def test_the_scan_colours_accounts_but_never_lowers_a_status_a_save_set(
    backend: str, tmp_path: Path, time_env: WorkflowEnvironment, settings: Settings, smtp: SmtpSink
) -> None:
    async with (
        store_url(backend, tmp_path) as url,
        Harness.running(time_env, settings.model_copy(update={"database_url": url}), smtp) as h,
    ):
        now = await h.now()
        ref = SaveRef(account_id="ferrovia", save_id="earlier-save", playbook_id="value_roi")
        await h.services.crm.set_risk_status(
            RiskStatusRequest(save=ref, risk=RiskColour.YELLOW, reason="in recovery", at=now)
        )
        report, _ = await _scan(h, f"parked-{uuid.uuid4().hex[:6]}", as_of=now)
        async with sessions(h.services.engine)() as session:
            rows = {r.id: r for r in (await session.execute(select(Account))).scalars()}
        verdicts = {i: evaluate(RULES, signals_of(r), now.date()) for i, r in rows.items()}
        assert verdicts["ferrovia"].colour is RiskColour.GREEN
        assert rows["ferrovia"].risk_status == "yellow"  # the save's status stands
        assert all(rows[i].risk_status == v.colour.value for i, v in verdicts.items() if i != "ferrovia")
        red = sorted(i for i, v in verdicts.items() if v.red)
        assert report.counts.saves_started == len(red) > 0
        assert all(rows[i].risk_set_by == "save" for i in red)  # each save owns its status now
        assert sorted(rows["lumenworks"].scan_fired) == sorted(r.id for r in verdicts["lumenworks"].fired)
        changes = await h.services.crm.risk_changes(red[0])
        assert changes and changes[-1].status == "red" and changes[-1].reason.startswith("risk scan: ")
