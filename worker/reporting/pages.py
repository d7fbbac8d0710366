"""Self-contained HTML pages and terminal text for post-mortems and the program report."""

from __future__ import annotations

from datetime import datetime, timedelta
from math import sqrt
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, select_autoescape

from worker.reporting.charts import rate_bars, stacked_bars, timeline_chart
from worker.reporting.report import Group, SaveReport
from workflows.details import money
from workflows.postmortem import PostMortem

TEMPLATES = Path(__file__).resolve().parent / "templates"


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}%"


def _hours(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.0f} h" if value < 72 else f"{value / 24:.1f} days"


def _env() -> Environment:
    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["j2", "html"]))
    env.globals.update(pct=_pct, hours=_hours, money=money)
    return env


def postmortem_html(pm: PostMortem) -> str:
    end = pm.closed_at or (pm.timeline[-1].at if pm.timeline else pm.opened_at)
    limit = timedelta(hours=pm.figures.first_contact_limit_hours)
    chart = timeline_chart(pm.timeline, pm.opened_at, max(end, pm.opened_at + timedelta(days=3)), limit)

    def day(at: datetime) -> str:
        return f"{(at - pm.opened_at).total_seconds() / 86400:.1f}"

    contact = _contact_words(
        pm.figures.first_contact_hours, pm.figures.first_contact_limit_hours, pm.figures.within_48h
    )
    return _env().get_template("postmortem.html.j2").render(pm=pm, f=pm.figures, chart=chart, day=day, contact=contact)


MIN_TO_COMPARE = 5
"""Decided saves a bucket needs before the report compares it with the others."""

Z95 = 1.96


def wilson(saved: int, n: int) -> tuple[float, float]:
    """The Wilson 95% interval of a save rate, in percent: where the true rate very likely lies."""
    if n == 0:
        return 0.0, 100.0
    p = saved / n
    centre = (p + Z95**2 / (2 * n)) / (1 + Z95**2 / n)
    half = Z95 * sqrt(p * (1 - p) / n + Z95**2 / (4 * n * n)) / (1 + Z95**2 / n)
    return 100 * max(0.0, centre - half), 100 * min(1.0, centre + half)


def _interval(g: Group) -> tuple[float, float]:
    return wilson(g.saved + g.partially_saved, g.decided)


HOW_WE_COMPARE = (
    "The range is a 95% interval (Wilson) for a bucket's true save rate given its n: two buckets differ"
    f" clearly only when their ranges do not overlap; a bucket with fewer than {MIN_TO_COMPARE} decided saves"
    " is shown but not compared."
)


_WHEN = {"within_48h": "within 48 h", "2_to_7_days": "in 2-7 days", "over_7_days": "after more than 7 days"}


def contact_answer(report: SaveReport) -> str:
    """The 48-hour question, answered from this team's own saves, bucket by bucket as the chart shows them."""
    buckets = report.by_first_contact[:3]
    parts = []
    for g in buckets:
        if g.decided == 0:
            parts.append(f"{g.label}: no decided saves")
        elif g.decided < MIN_TO_COMPARE:
            parts.append(f"{g.label}: {_pct(g.save_rate_pct)} saved (n={g.decided}, too few to compare)")
        else:
            low, high = _interval(g)
            parts.append(f"{g.label}: {_pct(g.save_rate_pct)} saved (n={g.decided}, likely {low:.0f}-{high:.0f}%)")
    figures = "; ".join(parts) + "."
    fast, ready = buckets[0], [g for g in buckets if g.decided >= MIN_TO_COMPARE]
    if fast not in ready or len(ready) < 2:
        return f"Too few decided saves to tell yet. {figures}"
    best = max(ready, key=lambda g: g.save_rate_pct or 0.0)
    if best is fast:
        later = [g for g in ready if g is not fast]
        close = [g.label for g in later if _interval(g)[1] >= _interval(fast)[0]]
        verdict = (
            "Yes: saves first contacted within 48 h were saved more often than later ones, by more than chance explains"
            if not close
            else "Not proven: saves first contacted within 48 h have the highest save rate, but the gap to "
            + " and ".join(close)
            + " is within what chance gives with these numbers"
        )
    elif _interval(fast)[1] < _interval(best)[0]:
        verdict = f"No: saves first contacted {_WHEN[best.key]} were saved more often than those within 48 h"
    else:
        verdict = (
            f"Not proven: saves first contacted {_WHEN[best.key]} have the highest save rate here, but the gap to"
            " within 48 h is within what chance gives with these numbers"
        )
    return f"{verdict}. {figures}"


def report_html(report: SaveReport) -> str:
    f = report.filters
    filters = " · ".join(
        f"{k} {v.date() if isinstance(v, datetime) else v}" for k, v in f.model_dump().items() if v is not None
    )
    playbooks = stacked_bars([(g.label, g.counts()) for g in report.by_playbook], "Outcomes by playbook")
    tiers = stacked_bars([(g.label, g.counts()) for g in report.by_tier], "Outcomes by tier")
    contact = rate_bars(
        [(g.label, g.save_rate_pct, g.decided) for g in report.by_first_contact],
        "Save rate by time to first customer contact",
    )
    tables = [
        ("Playbook", report.by_playbook),
        ("Tier", report.by_tier),
        ("Time to first contact", report.by_first_contact),
        ("", [report.overall]),
    ]
    return (
        _env()
        .get_template("report.html.j2")
        .render(
            r=report,
            filters=filters,
            playbook_chart=playbooks,
            tier_chart=tiers,
            contact_chart=contact,
            answer=contact_answer(report),
            how_we_compare=HOW_WE_COMPARE,
            tables=tables,
        )
    )


def _contact_words(hours: float | None, limit_hours: float, kept: bool | None) -> str:
    """``after 48 h; first-contact rule (24 h) broken``: the report's 48-hour bucket and the playbook's own rule."""
    rule = f"first-contact rule ({limit_hours:.0f} h) {'kept' if kept else 'broken' if kept is False else 'pending'}"
    if hours is None:
        return f"no contact recorded; {rule}"
    return f"{'within' if hours <= 48 else 'after'} 48 h; {rule}"


def postmortem_text(pm: PostMortem) -> str:
    """The post-mortem for a terminal: header, key figures, the timeline."""
    f = pm.figures
    contact = _contact_words(f.first_contact_hours, f.first_contact_limit_hours, f.within_48h)
    escalations = ", ".join(f"L{k}: {v}" for k, v in f.escalations_by_level.items()) or "none"
    lines = [
        f"Post-mortem: {pm.account_name} · {pm.playbook_name} v{pm.playbook_version} · "
        f"{pm.tier.replace('_', ' ')} · ARR {money(f.arr)} · save {pm.save_id[:8]} · {pm.status}"
        f"{' (partial)' if pm.partial else ''} · from {pm.source}",
        f"Trigger: {pm.trigger}",
    ]
    if pm.reopened_from:
        lines.append(f"Reopened after save {pm.reopened_from[:8]} relapsed")
    if pm.root_cause:
        lines.append(f"Root cause: {pm.root_cause}")
    lines += [
        "",
        f"  First contact      {_hours(f.first_contact_hours)} ({contact})",
        f"  Tasks on time      {_pct(f.tasks_on_time_pct)} ({f.tasks_done} done of {f.tasks_created}, "
        f"{f.tasks_overdue} overdue)",
        f"  Escalations        {escalations}",
        f"  Commitments kept   {_pct(f.commitments_kept_pct)} ({f.commitments_kept} kept, "
        f"{f.commitments_broken} broken, {f.commitments_open} open)",
        f"  Days to outcome    {f.days_to_outcome if f.days_to_outcome is not None else '-'}",
        f"  Outcome            {f.outcome.value.replace('_', ' ')}"
        f"{': ' + pm.outcome_reason if pm.outcome_reason else ''} (ARR retained {money(f.arr_retained)})",
        f"  Recovery           {f.recovery.value.replace('_', ' ')}"
        f"{f' after {f.relapsed_after_days} days' if f.relapsed_after_days is not None else ''}",
        f"  Emails sent        {f.emails_sent}",
        "",
        "Timeline",
    ]
    for e in pm.timeline:
        day = (e.at - pm.opened_at).total_seconds() / 86400
        lines.append(f"  {e.at.strftime('%d %b %H:%M')}  day {day:5.1f}  {'!' if e.late else ' '} {e.text}")
    return "\n".join(lines)
