"""The save-program report: pure functions over post-mortem records.

Answers "which playbooks save accounts?" (save rate by playbook and tier) and "does answering
within 48 hours matter for us?" (save rate by time to first contact), plus the program metrics:
commitments kept, relapse rate, ARR saved and lost. Save rate = (saved + partially
saved) / decided saves (saved, partially saved, lost, farewell); open saves are counted apart.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from datetime import datetime
from statistics import median

from pydantic import BaseModel, Field

from workflows.postmortem import (
    RELAPSE_WINDOW,
    ContactBucket,
    PostMortem,
    RecoveryResult,
    Verdict,
)

SAVED = (Verdict.SAVED, Verdict.PARTIALLY_SAVED)
DECIDED = (Verdict.SAVED, Verdict.PARTIALLY_SAVED, Verdict.LOST, Verdict.FAREWELL)
BUCKET_LABELS = {
    ContactBucket.WITHIN_48H: "within 48 h",
    ContactBucket.DAYS_2_TO_7: "2-7 days",
    ContactBucket.OVER_7_DAYS: "over 7 days",
    ContactBucket.NO_CONTACT: "no contact recorded",
}


class Filters(BaseModel):
    since: datetime | None = None
    playbook: str | None = None
    tier: str | None = None
    owner: str | None = None

    def keep(self, r: PostMortem) -> bool:
        if self.since is not None and r.opened_at < self.since:
            return False
        if self.playbook is not None and r.playbook_id != self.playbook:
            return False
        if self.tier is not None and r.tier != self.tier:
            return False
        return self.owner is None or self.owner.lower() in {(r.owner_id or "").lower(), (r.owner or "").lower()}


class Group(BaseModel):
    """Outcome counts of one slice (a playbook, a tier, a first-contact bucket)."""

    key: str
    label: str
    saved: int = 0
    partially_saved: int = 0
    lost: int = 0
    farewell: int = 0
    open: int = 0
    save_rate_pct: float | None = None
    arr_saved: float = 0.0
    arr_lost: float = 0.0

    @property
    def decided(self) -> int:
        return self.saved + self.partially_saved + self.lost + self.farewell

    @property
    def total(self) -> int:
        return self.decided + self.open

    def counts(self) -> dict[str, int]:
        return {
            "saved": self.saved,
            "partially_saved": self.partially_saved,
            "lost": self.lost,
            "farewell": self.farewell,
            "open": self.open,
        }


class SaveReport(BaseModel):
    generated_at: datetime
    filters: Filters
    saves: int
    decided: int
    overall: Group
    by_playbook: list[Group]
    by_tier: list[Group]
    by_first_contact: list[Group]
    median_hours_to_first_contact: float | None
    commitments_kept: int
    commitments_broken: int
    commitments_kept_rate_pct: float | None
    saved_with_outcome: int
    relapsed: int
    relapse_rate_pct: float | None
    arr_saved: float
    arr_lost: float
    source: str = "archive"
    notes: list[str] = Field(default_factory=list)


def _pct(part: int, whole: int) -> float | None:
    return round(100 * part / whole, 1) if whole else None


def _group(key: str, label: str, records: Iterable[PostMortem]) -> Group:
    g = Group(key=key, label=label)
    for r in records:
        v = r.figures.outcome
        setattr(g, v.value, getattr(g, v.value) + 1)
        g.arr_saved += r.figures.arr_retained if v in SAVED else 0.0
        g.arr_lost += r.figures.arr_lost if v in DECIDED else 0.0
    g.save_rate_pct = _pct(g.saved + g.partially_saved, g.decided)
    return g


def _by(
    records: Sequence[PostMortem], key: str, labels: dict[str, str] | None = None, order: Sequence[str] | None = None
) -> list[Group]:
    keys = list(order) if order is not None else sorted({getattr(r, key) for r in records})
    return [
        _group(k, (labels or {}).get(k, k.replace("_", " ")), [r for r in records if getattr(r, key) == k])
        for k in keys
    ]


def relapsed(record: PostMortem, later: Sequence[PostMortem]) -> bool:
    """A saved account relapsed: its recovery reopened the save, or a new save of the same account
    opened within 90 days of the outcome."""
    f = record.figures
    if f.recovery is RecoveryResult.RELAPSED:
        return f.relapsed_after_days is None or f.relapsed_after_days <= RELAPSE_WINDOW.days
    outcome_at = next((e.at for e in record.timeline if e.kind == "outcome"), None)
    if outcome_at is None:
        return False
    return any(
        o.account_id == record.account_id
        and o.save_id != record.save_id
        and outcome_at < o.opened_at <= outcome_at + RELAPSE_WINDOW
        for o in later
    )


def build_report(records: Sequence[PostMortem], filters: Filters, now: datetime, source: str = "archive") -> SaveReport:
    every = list(records)
    kept = [r for r in every if filters.keep(r)]
    contact_hours = [r.figures.first_contact_hours for r in kept if r.figures.first_contact_hours is not None]
    buckets: dict[str, list[PostMortem]] = {b.value: [] for b in ContactBucket}
    for r in kept:
        buckets[r.figures.contact_bucket.value].append(r)
    ck = sum(r.figures.commitments_kept for r in kept)
    cb = sum(r.figures.commitments_broken for r in kept)
    saved = [r for r in kept if r.figures.outcome in SAVED]
    relapses = sum(1 for r in saved if relapsed(r, every))
    overall = _group("all", "All saves", kept)
    notes = []
    partial = sum(1 for r in kept if r.partial)
    if partial:
        notes.append(
            f"{partial} save(s) ended without a final state in their history (terminated?); "
            "their figures come from the last phase boundary."
        )
    return SaveReport(
        generated_at=now,
        filters=filters,
        saves=len(kept),
        decided=overall.decided,
        overall=overall,
        by_playbook=_by(kept, "playbook_id", {r.playbook_id: r.playbook_name for r in kept}),
        by_tier=_by(kept, "tier"),
        by_first_contact=[_group(b.value, BUCKET_LABELS[b], buckets[b.value]) for b in ContactBucket],
        median_hours_to_first_contact=round(median(contact_hours), 1) if contact_hours else None,
        commitments_kept=ck,
        commitments_broken=cb,
        commitments_kept_rate_pct=_pct(ck, ck + cb),
        saved_with_outcome=len(saved),
        relapsed=relapses,
        relapse_rate_pct=_pct(relapses, len(saved)),
        arr_saved=overall.arr_saved,
        arr_lost=overall.arr_lost,
        source=source,
        notes=notes,
    )


CSV_COLUMNS = [
    "dimension",
    "key",
    "label",
    "saves",
    "saved",
    "partially_saved",
    "lost",
    "farewell",
    "open",
    "save_rate_pct",
    "arr_saved",
    "arr_lost",
]


def report_csv(report: SaveReport) -> str:
    """One row per slice (overall, playbook, tier, first-contact bucket), then the program metrics."""
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(CSV_COLUMNS)
    slices = [
        ("overall", [report.overall]),
        ("playbook", report.by_playbook),
        ("tier", report.by_tier),
        ("first_contact", report.by_first_contact),
    ]
    for dimension, groups in slices:
        for g in groups:
            w.writerow(
                [
                    dimension,
                    g.key,
                    g.label,
                    g.total,
                    g.saved,
                    g.partially_saved,
                    g.lost,
                    g.farewell,
                    g.open,
                    "" if g.save_rate_pct is None else g.save_rate_pct,
                    round(g.arr_saved, 2),
                    round(g.arr_lost, 2),
                ]
            )
    w.writerow([])
    w.writerow(["metric", "value"])
    for name in (
        "median_hours_to_first_contact",
        "commitments_kept_rate_pct",
        "relapse_rate_pct",
        "arr_saved",
        "arr_lost",
    ):
        value = getattr(report, name)
        w.writerow([name, "" if value is None else value])
    return buf.getvalue()
