"""``saves demo-history`` dates its simulated saves over the last two quarters, all over before today."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tests.test_report import record
from worker.devtools.simulate import into_the_past
from worker.reporting.report import Filters, build_report
from workflows.postmortem import RecoveryResult, TimelineEntry, Verdict

NOW = datetime(2026, 12, 2, 15, 0, tzinfo=UTC)


def test_saves_move_into_the_last_two_quarters_with_their_words_and_relapses() -> None:
    future = NOW + timedelta(days=3000)  # where a sequential simulation leaves them
    first = record(1, "budget", "smb", Verdict.SAVED, 20, account="tinkerbox", opened=future)
    first = first.model_copy(
        update={
            "timeline": [
                *first.timeline,
                TimelineEntry(at=future + timedelta(hours=2), kind="task", text="Call, due Mon 08 Jan 10:00 UTC"),
            ],
            "figures": first.figures.model_copy(update={"recovery": RecoveryResult.RELAPSED}),
        }
    )
    reopened = record(2, "budget", "smb", Verdict.LOST, 30, account="tinkerbox", opened=future + timedelta(days=40))
    reopened = reopened.model_copy(update={"reopened_from": first.save_id})
    later = record(3, "budget", "smb", Verdict.SAVED, 20, account="tinkerbox", opened=future + timedelta(days=400))
    moved = into_the_past([later, first, reopened], NOW)
    assert len(moved) == 3
    for r in moved:
        assert NOW - timedelta(days=183) <= r.opened_at and (r.closed_at or r.opened_at) < NOW
        assert all(e.at < NOW for e in r.timeline) and r.generated_at == NOW
    by_id = {r.save_id: r for r in moved}
    a, b, c = by_id[first.save_id], by_id[reopened.save_id], by_id[later.save_id]
    assert b.opened_at - a.opened_at == timedelta(days=40)  # a relapse moves with the save it reopened
    assert a.account_id == b.account_id != c.account_id and a.account_id.startswith("tinkerbox-")
    assert a.workflow_id == f"save-{a.account_id}"
    call = a.timeline[-1]
    delta = a.opened_at - first.opened_at
    assert (datetime(2035, 1, 8, 10, tzinfo=UTC) + delta).strftime("%a %d %b %H:%M UTC") in call.text
    assert build_report(moved, Filters(), NOW).relapsed == 1  # only the real relapse, not the later save
