"""Inline SVG charts for the HTML pages: no JavaScript, no CDN, readable when printed."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from html import escape

from markupsafe import Markup

from workflows.postmortem import TimelineEntry

COLOURS = {
    "saved": "#2e7d32",
    "partially_saved": "#9ccc65",
    "lost": "#c62828",
    "farewell": "#8d6e63",
    "open": "#90a4ae",
}
LANES = [
    ("Signals", {"trigger", "triage", "relapse"}),
    ("Tasks", {"task_opened", "task_done", "task_overdue", "recovery_check"}),
    ("Escalations", {"escalation"}),
    ("Emails", {"email"}),
    ("Promises", {"commitment_made", "commitment_kept", "commitment_broken"}),
    ("Decisions", {"root_cause", "help", "outcome", "phase", "closed", "health"}),
]


def _svg(width: int, height: int, body: list[str], label: str) -> Markup:
    return Markup(
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
        f'width="100%" role="img" aria-label="{escape(label)}" '
        f'font-family="system-ui, sans-serif" font-size="12">{"".join(body)}</svg>'
    )


def timeline_chart(
    entries: Sequence[TimelineEntry], start: datetime, end: datetime, first_contact_limit: timedelta | None = None
) -> Markup:
    """One lane per kind of event along the save's life; late things in red; the 48-hour mark."""
    width, left, right, lane_h, top = 960, 110, 20, 34, 26
    height = top + lane_h * len(LANES) + 24 + LEGEND_H
    span = max((end - start).total_seconds(), 3600.0)

    def x(at: datetime) -> float:
        return left + (width - left - right) * max(0.0, min(1.0, (at - start).total_seconds() / span))

    body = [f'<rect x="0" y="0" width="{width}" height="{height}" fill="#fff"/>']
    days = span / 86400
    step = 1 if days <= 14 else 7 if days <= 120 else 30
    for d in range(0, int(days) + 1, step):
        gx = x(start + timedelta(days=d))
        body.append(f'<line x1="{gx:.1f}" y1="{top - 6}" x2="{gx:.1f}" y2="{height - 20 - LEGEND_H}" stroke="#eee"/>')
        body.append(f'<text x="{gx:.1f}" y="{height - 6 - LEGEND_H}" text-anchor="middle" fill="#777">day {d}</text>')
    marks = [(timedelta(hours=48), "48 h", "start")]
    if first_contact_limit is not None and first_contact_limit != timedelta(hours=48):
        marks.append(
            (first_contact_limit, "contact due", "end" if first_contact_limit < timedelta(hours=48) else "start")
        )
    for mark, label, anchor in marks:
        if mark.total_seconds() < span:
            mx = x(start + mark)
            body.append(
                f'<line x1="{mx:.1f}" y1="{top - 10}" x2="{mx:.1f}" y2="{height - 20 - LEGEND_H}" '
                f'stroke="#f9a825" stroke-dasharray="4 3"/>'
            )
            tx = mx + 3 if anchor == "start" else mx - 3
            body.append(
                f'<text x="{tx:.1f}" y="{top - 12}" text-anchor="{anchor}" fill="#b07b00">{escape(label)}</text>'
            )
    for i, (name, kinds) in enumerate(LANES):
        y = top + i * lane_h + lane_h / 2
        body.append(f'<text x="{left - 10}" y="{y + 4:.1f}" text-anchor="end" fill="#333">{name}</text>')
        body.append(f'<line x1="{left}" y1="{y:.1f}" x2="{width - right}" y2="{y:.1f}" stroke="#ddd"/>')
        for e in entries:
            if e.kind not in kinds:
                continue
            colour = (
                "#c62828"
                if e.late
                else "#2e7d32"
                if e.kind in ("task_done", "commitment_kept", "recovery_check", "outcome", "closed")
                else "#1565c0"
            )
            body.append(
                f'<circle cx="{x(e.at):.1f}" cy="{y:.1f}" r="5" fill="{colour}" fill-opacity="0.8">'
                f"<title>{escape(e.at.strftime('%d %b %H:%M'))}: {escape(e.text)}</title></circle>"
            )
    body += _legend(left, height - 8)
    return _svg(width, height, body, "Timeline of the save")


LEGEND_H = 24
"""Room under the timeline chart for its legend."""

LEGEND = (
    ("#1565c0", "happened (opened, sent, escalated)"),
    ("#2e7d32", "done, kept or decided"),
    ("#c62828", "late, broken or overdue"),
)


def _legend(x: float, y: float) -> list[str]:
    """What the colours and the dashed line mean, in one row under the chart."""
    parts = []
    for colour, text in LEGEND:
        parts.append(f'<circle cx="{x:.1f}" cy="{y - 4:.1f}" r="5" fill="{colour}" fill-opacity="0.8"/>')
        parts.append(f'<text x="{x + 9:.1f}" y="{y:.1f}" fill="#333">{escape(text)}</text>')
        x += 20 + 6.5 * len(text)
    parts.append(
        f'<line x1="{x:.1f}" y1="{y - 4:.1f}" x2="{x + 18:.1f}" y2="{y - 4:.1f}" '
        'stroke="#f9a825" stroke-dasharray="4 3"/>'
    )
    parts.append(f'<text x="{x + 22:.1f}" y="{y:.1f}" fill="#333">48 h mark and first-contact deadline</text>')
    return parts


def stacked_bars(rows: Sequence[tuple[str, dict[str, int]]], title: str) -> Markup:
    """One horizontal bar per row, split by outcome, with counts and the save rate."""
    width, left, right, bar_h, gap = 860, 230, 130, 22, 10
    height = 30 + len(rows) * (bar_h + gap) + 30
    body = [f'<text x="0" y="16" font-weight="600">{escape(title)}</text>']
    for i, (label, counts) in enumerate(rows):
        total = sum(counts.values()) or 1
        y = 30 + i * (bar_h + gap)
        body.append(f'<text x="{left - 8}" y="{y + 15}" text-anchor="end">{escape(label)}</text>')
        cursor = float(left)
        for kind, colour in COLOURS.items():
            n = counts.get(kind, 0)
            if not n:
                continue
            w = (width - left - right) * n / total
            body.append(
                f'<rect x="{cursor:.1f}" y="{y}" width="{w:.1f}" height="{bar_h}" fill="{colour}">'
                f"<title>{escape(kind.replace('_', ' '))}: {n}</title></rect>"
            )
            if w > 18:
                body.append(f'<text x="{cursor + w / 2:.1f}" y="{y + 15}" text-anchor="middle" fill="#fff">{n}</text>')
            cursor += w
        saved = counts.get("saved", 0) + counts.get("partially_saved", 0)
        decided = total - counts.get("open", 0)
        rate = f"{100 * saved / decided:.0f}% saved" if decided > 0 else "none decided"
        body.append(f'<text x="{width - right + 8}" y="{y + 15}">{rate} (n={sum(counts.values())})</text>')
    legend_y = height - 12
    lx = left
    for kind, colour in COLOURS.items():
        body.append(
            f'<rect x="{lx}" y="{legend_y - 10}" width="12" height="12" fill="{colour}"/>'
            f'<text x="{lx + 16}" y="{legend_y}">{kind.replace("_", " ")}</text>'
        )
        lx += 110
    return _svg(width, height, body, title)


def rate_bars(rows: Sequence[tuple[str, float | None, int]], title: str, unit: str = "%") -> Markup:
    """Vertical bars of a rate per bucket, with n under each bar."""
    width, height, base, top = 760, 260, 210, 30
    n_rows = max(len(rows), 1)
    slot = (width - 60) / n_rows
    body = [
        f'<text x="0" y="16" font-weight="600">{escape(title)}</text>',
        f'<line x1="40" y1="{base}" x2="{width - 10}" y2="{base}" stroke="#999"/>',
    ]
    for pct in (0, 50, 100):
        y = base - (base - top) * pct / 100
        body.append(f'<text x="34" y="{y + 4:.1f}" text-anchor="end" fill="#777">{pct}{unit}</text>')
        body.append(f'<line x1="40" y1="{y:.1f}" x2="{width - 10}" y2="{y:.1f}" stroke="#eee"/>')
    for i, (label, value, n) in enumerate(rows):
        cx = 50 + slot * i + slot / 2
        bw = min(90.0, slot * 0.6)
        if value is not None:
            h = (base - top) * value / 100
            body.append(
                f'<rect x="{cx - bw / 2:.1f}" y="{base - h:.1f}" width="{bw:.1f}" height="{h:.1f}" '
                f'fill="#1565c0"><title>{escape(label)}: {value:.0f}{unit} of {n}</title></rect>'
            )
            body.append(
                f'<text x="{cx:.1f}" y="{base - h - 6:.1f}" text-anchor="middle" '
                f'font-weight="600">{value:.0f}{unit}</text>'
            )
        else:
            body.append(f'<text x="{cx:.1f}" y="{base - 6}" text-anchor="middle" fill="#777">no data</text>')
        body.append(f'<text x="{cx:.1f}" y="{base + 18}" text-anchor="middle">{escape(label)}</text>')
        body.append(f'<text x="{cx:.1f}" y="{base + 34}" text-anchor="middle" fill="#777">n={n}</text>')
    return _svg(width, height, body, title)
