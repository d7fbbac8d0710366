"""The save-program report over a known mix of post-mortems (pure functions, no server)."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

from worker.reporting.pages import contact_answer, report_html, wilson
from worker.reporting.report import Filters, build_report, report_csv
from workflows.postmortem import (
    KeyFigures,
    PostMortem,
    RecoveryResult,
    TimelineEntry,
    Verdict,
    contact_bucket,
)

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
NOW = datetime(2026, 12, 1, tzinfo=UTC)


def record(
    n: int,
    playbook: str,
    tier: str,
    outcome: Verdict,
    contact_hours: float | None,
    *,
    arr: float = 100_000,
    retained: float | None = None,
    kept: int = 0,
    broken: int = 0,
    recovery: RecoveryResult = RecoveryResult.NOT_APPLICABLE,
    relapse_days: float | None = None,
    account: str | None = None,
    opened: datetime | None = None,
    owner: str = "u-sam",
) -> PostMortem:
    opened = opened or T0 + timedelta(days=n)
    decided = outcome in (Verdict.SAVED, Verdict.PARTIALLY_SAVED, Verdict.LOST, Verdict.FAREWELL)
    kept_arr = retained if retained is not None else arr if outcome is Verdict.SAVED else 0.0
    timeline = [TimelineEntry(at=opened, kind="trigger", text="signal")]
    if decided:
        timeline.append(TimelineEntry(at=opened + timedelta(days=20), kind="outcome", text="decided"))
    return PostMortem(
        save_id=f"s{n}",
        workflow_id=f"save-{account or f'a{n}'}",
        account_id=account or f"a{n}",
        account_name=f"Account {n}",
        tier=tier,
        owner="Sam Ortiz" if owner == "u-sam" else "Aisha Khan",
        owner_id=owner,
        playbook_id=playbook,
        playbook_name=playbook.replace("_", " ").title(),
        playbook_version=1,
        opened_at=opened,
        closed_at=opened + timedelta(days=110) if decided else None,
        status="closed" if decided else "running",
        trigger="low usage",
        figures=KeyFigures(
            first_contact_hours=contact_hours,
            first_contact_limit_hours=48,
            contact_bucket=contact_bucket(contact_hours),
            outcome=outcome,
            recovery=recovery,
            relapsed_after_days=relapse_days,
            commitments_kept=kept,
            commitments_broken=broken,
            arr=arr,
            arr_retained=kept_arr if decided else 0.0,
            arr_lost=(arr - kept_arr) if decided else 0.0,
        ),
        timeline=timeline,
        generated_at=NOW,
    )


def mix() -> list[PostMortem]:
    """10 saves: value_roi saves well when answered fast; budget loses when answered late."""
    S, P, L, F, OP = Verdict.SAVED, Verdict.PARTIALLY_SAVED, Verdict.LOST, Verdict.FAREWELL, Verdict.OPEN
    return [
        record(1, "value_roi", "enterprise", S, 20, kept=2, recovery=RecoveryResult.RECOVERED),
        record(
            2, "value_roi", "enterprise", S, 30, kept=1, broken=1, recovery=RecoveryResult.RELAPSED, relapse_days=14
        ),
        record(3, "value_roi", "smb", P, 40, retained=60_000, recovery=RecoveryResult.RECOVERED),
        record(4, "value_roi", "smb", L, 100, broken=1),
        record(5, "budget", "smb", L, 90),
        record(6, "budget", "mid_market", L, 200),
        record(7, "budget", "mid_market", S, 180, kept=1, recovery=RecoveryResult.RECOVERED),
        record(8, "budget", "smb", F, None),
        record(9, "budget", "smb", OP, 10),
        # account a1 is back as a new save 30 days after its outcome: a relapse counted on save 1
        record(10, "budget", "enterprise", OP, None, account="a1", opened=T0 + timedelta(days=1 + 50)),
    ]


def test_save_rates_by_playbook_tier_and_time_to_first_contact() -> None:
    r = build_report(mix(), Filters(), NOW)
    assert r.saves == 10 and r.decided == 8 and r.overall.open == 2
    assert r.overall.save_rate_pct == 50.0  # 3 saved + 1 partial of 8 decided
    playbooks = {g.key: g for g in r.by_playbook}
    assert (playbooks["value_roi"].saved, playbooks["value_roi"].partially_saved, playbooks["value_roi"].lost) == (
        2,
        1,
        1,
    )
    assert playbooks["value_roi"].save_rate_pct == 75.0
    assert playbooks["budget"].save_rate_pct == 25.0 and playbooks["budget"].farewell == 1
    assert playbooks["budget"].label == "Budget"
    tiers = {g.key: g.save_rate_pct for g in r.by_tier}
    assert tiers == {"enterprise": 100.0, "mid_market": 50.0, "smb": 25.0}
    contact = {g.key: g for g in r.by_first_contact}
    assert contact["within_48h"].save_rate_pct == 100.0 and contact["within_48h"].decided == 3
    assert contact["2_to_7_days"].save_rate_pct == 0.0 and contact["2_to_7_days"].decided == 2
    assert contact["over_7_days"].save_rate_pct == 50.0
    assert contact["no_contact"].farewell == 1
    assert r.median_hours_to_first_contact == 65.0  # of 20, 30, 40, 100, 90, 200, 180, 10
    assert (r.commitments_kept, r.commitments_broken, r.commitments_kept_rate_pct) == (4, 2, 66.7)
    assert r.saved_with_outcome == 4 and r.relapsed == 2 and r.relapse_rate_pct == 50.0
    assert r.arr_saved == 360_000 and r.arr_lost == 40_000 + 400_000
    assert contact_answer(r) == (
        "Too few decided saves to tell yet. within 48 h: 100% saved (n=3, too few to compare); 2-7 days: 0% saved"
        " (n=2, too few to compare); over 7 days: 50% saved (n=2, too few to compare)."
    )


def bucketed(fast: tuple[int, int], mid: tuple[int, int], slow: tuple[int, int]) -> str:
    """The 48-hour answer over (saved, decided) per bucket: within 48 h, 2-7 days, over 7 days."""
    records, n = [], 0
    for (saved, decided), hours in ((fast, 10), (mid, 100), (slow, 200)):
        for i in range(decided):
            n += 1
            records.append(record(n, "value_roi", "smb", Verdict.SAVED if i < saved else Verdict.LOST, hours))
    return contact_answer(build_report(records, Filters(), NOW))


def test_the_48_hour_answer_names_the_bucket_the_chart_shows_tallest_and_says_when_it_is_chance() -> None:
    # 68% (n=25), 86% (n=7), 0% (n=4): the tallest bar is 2-7 days, and 25 against 7 cannot tell them apart
    answer = bucketed((17, 25), (6, 7), (0, 4))
    assert answer.startswith("Not proven: saves first contacted in 2-7 days have the highest save rate here")
    assert (
        "within 48 h: 68% saved (n=25, likely 48-83%)" in answer
        and "2-7 days: 86% saved (n=7, likely 49-97%)" in answer
    )
    assert "over 7 days: 0% saved (n=4, too few to compare)" in answer
    assert bucketed((45, 50), (10, 30), (2, 20)).startswith(
        "Yes: saves first contacted within 48 h were saved more often than later ones, by more than chance explains"
    )
    assert bucketed((5, 30), (25, 30), (0, 0)).startswith(
        "No: saves first contacted in 2-7 days were saved more often than those within 48 h"
    )
    assert bucketed((20, 30), (15, 30), (0, 0)).startswith(
        "Not proven: saves first contacted within 48 h have the highest save rate, but the gap to 2-7 days"
    )


def test_wilson_interval() -> None:
    low, high = wilson(17, 25)
    assert round(low, 1) == 48.4 and round(high, 1) == 82.8
    assert wilson(0, 0) == (0.0, 100.0) and wilson(5, 5)[1] == 100.0


def test_filters_since_playbook_tier_and_owner() -> None:
    records = mix()
    records[3] = records[3].model_copy(update={"owner_id": "u-aisha", "owner": "Aisha Khan"})
    assert build_report(records, Filters(playbook="budget"), NOW).saves == 6
    assert build_report(records, Filters(tier="smb"), NOW).saves == 5
    assert build_report(records, Filters(owner="aisha khan"), NOW).saves == 1
    assert build_report(records, Filters(owner="u-aisha"), NOW).saves == 1
    later = build_report(records, Filters(since=T0 + timedelta(days=6)), NOW)
    assert later.saves == 5 and later.decided == 3


def test_csv_and_html_carry_the_same_figures() -> None:
    r = build_report(mix(), Filters(), NOW)
    rows = list(csv.reader(io.StringIO(report_csv(r))))
    by_playbook = {row[1]: row for row in rows if row and row[0] == "playbook"}
    assert by_playbook["value_roi"][9] == "75.0" and by_playbook["budget"][9] == "25.0"
    page = report_html(r)
    assert page.startswith("<!doctype html>") and "<svg" in page
    assert "http://" not in page.replace('xmlns="http://www.w3.org/2000/svg"', "")  # no CDN
    assert "Which playbooks save accounts?" in page and "within 48 h" in page
    assert "Wilson" in page and "Seed" not in page and "seed" not in page


def test_an_empty_archive_gives_an_empty_report_not_an_error() -> None:
    r = build_report([], Filters(), NOW)
    assert r.saves == 0 and r.overall.save_rate_pct is None
    assert "Too few decided saves" in contact_answer(r)
    assert "<svg" in report_html(r)
