"""Self-contained HTML pages and terminal text for post-mortems and the program report."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, select_autoescape

from worker.reporting.charts import rate_bars, stacked_bars, timeline_chart
from worker.reporting.report import SaveReport
from workflows.details import money
from workflows.postmortem import PostMortem

TEMPLATES = Path(__file__).resolve().parent / "templates"
MIN_TO_COMPARE = 5
"""Decided saves needed on each side of 48 hours before the report answers the question."""


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

    return _env().get_template("postmortem.html.j2").render(pm=pm, f=pm.figures, chart=chart, day=day)


def contact_answer(report: SaveReport) -> str:
    """The 48-hour question, answered in one sentence from this team's own saves."""
    fast, mid, slow = (report.by_first_contact[i] for i in range(3))
    later = mid.decided + slow.decided
    if fast.save_rate_pct is None or fast.decided < MIN_TO_COMPARE or later < MIN_TO_COMPARE:
        return (
            f"Too few decided saves to tell yet: {fast.decided} answered within 48 h, {later} later "
            f"(at least {MIN_TO_COMPARE} on each side are needed to compare)."
        )
    later_saved = mid.saved + mid.partially_saved + slow.saved + slow.partially_saved
    later_rate = 100 * later_saved / later
    gap = fast.save_rate_pct - later_rate
    verdict = (
        "Yes: answering within 48 hours goes with a higher save rate"
        if gap >= 10
        else "Not clearly: the save rates are close"
        if abs(gap) < 10
        else "No: later answers saved more often"
    )
    return (
        f"{verdict}. Saves whose first customer contact came within 48 h: {_pct(fast.save_rate_pct)} "
        f"saved (n={fast.decided}); 2-7 days: {_pct(mid.save_rate_pct)} (n={mid.decided}); over 7 days: "
        f"{_pct(slow.save_rate_pct)} (n={slow.decided})."
    )


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
            tables=tables,
        )
    )


def postmortem_text(pm: PostMortem) -> str:
    """The post-mortem for a terminal: header, key figures, the timeline."""
    f = pm.figures
    rule = "kept" if f.within_48h else "broken" if f.within_48h is False else "pending"
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
        f"  First contact      {_hours(f.first_contact_hours)} (48-hour rule {rule}; playbook limit "
        f"{f.first_contact_limit_hours:.0f} h)",
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
