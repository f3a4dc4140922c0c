"""The academy calendar's HTML, built in Python: a week as a table (rows: courts or coaches,
columns: the seven days) and a day as a court x time grid, of compact cards.

Rendered with format_html rather than a template include per card: the staff week holds over a
thousand sessions, and an include per card costs ~0.7 ms (a 1,050-session week took ~740 ms).
A card carries no attendee names (they are on the details view), so one card's HTML is the same
for every viewer who sees it in the same place and can be shared across a push's viewers."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, tzinfo
from functools import cache

from django.urls import reverse
from django.utils.dateformat import format as format_date
from django.utils.html import escape, format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe

from bookings.selectors import SessionView
from scheduling.times import time_range

SLOT_MINUTES = 30
# Every card's link opens its details in the panel beside the grid: said once on the grid
# (htmx inherits it) rather than on 1,000 links; without JS each link is a full page.
BOOST = mark_safe(
    ' hx-boost="true" hx-target="#cal-details" hx-swap="innerHTML" hx-push-url="false"'
)


@cache
def _details_prefix(kind: str) -> str:
    """The details route up to its id, reversed once (not per card: 1,000+ cards a week)."""
    name = "calendar_session" if kind == "group" else "calendar_lesson"
    return reverse(name, args=[0]).removesuffix("0/")


def details_url(s: SessionView) -> str:
    return f"{_details_prefix(s.kind)}{s.pk}/"


def _badges(s: SessionView) -> str:
    parts = []
    if s.held:
        parts.append(f'<span class="tag">{s.held} held</span>')
    if s.waiting:
        parts.append(f'<span class="tag">{s.waiting} waiting</span>')
    if s.checkin_complete:
        parts.append(f'<span class="badge badge-ok">Checked in {s.present}</span>')
    elif s.marked:
        parts.append(f'<span class="tag">Checked in: {s.marked} of {s.booked} marked</span>')
    return " ".join(parts)


def card(s: SessionView, tz: tzinfo, *, place: str = "", oob: bool = False) -> str:
    """One compact card: time, title, coach and court, the type as a neutral label, occupancy
    "3/8" in its colour (the only fullness signal), counts; it links to the details view.
    Plain f-strings with every text escaped (numbers need none): format_html's escaping of
    each argument cost ~0.4 ms a card, most of the big week's render."""
    letter = "g" if s.kind == "group" else "l"
    if s.kind == "group":
        occupancy = (
            f'<span class="occ-badge">{s.booked}/{s.capacity}<span class="visually-hidden">'
            f" booked, {s.occupancy_label}</span></span>"
        )
    else:
        occupancy = '<span class="tag">Lesson</span>'
    where = escape(" · ".join(x for x in (s.coach_names, s.court) if x))
    url = details_url(s)
    title = escape(s.title)
    return (
        f'<article id="cal-{letter}{s.pk}"{' hx-swap-oob="outerHTML"' if oob else ""}'
        f' aria-label="{title} {s.starts_at.astimezone(tz):%H:%M}"'
        f' class="cal-item cal-{s.kind} occ-{s.occupancy}'
        f'{" checkin-complete" if s.checkin_complete else ""}" data-session="{s.pk}"'
        f' data-held="{s.held}" data-waiting="{s.waiting}"'
        f"{f' style="{escape(place)}"' if place else ''}>"
        f'<a class="cal-link" href="{url}"><span class="cal-time">'
        f"{time_range(s.starts_at.astimezone(tz), s.ends_at.astimezone(tz))}</span>"
        f' <strong class="cal-title">{title}</strong></a>'
        f'<span class="cal-meta">{where}</span><span class="cal-foot">{occupancy}'
        f' <span class="cal-type">{escape(s.type_name)}</span> {_badges(s)}</span></article>'
    )


@dataclass(frozen=True)
class Row:
    ident: int  # a court's or coach's id; 0: none
    label: str


def row_of(s: SessionView, by: str) -> int:
    """The row a session sits in: its court, or its first coach (one row each, so that a card's
    id is unique on the page and a push finds it)."""
    if by == "coach":
        return s.coach_ids[0] if s.coach_ids else 0
    return s.court_id


def _day_head(day: date, today: date) -> SafeString:
    if day == today:
        return format_html(
            '<th scope="col" class="today" aria-current="date">{} <span class="today-mark">'
            "Today</span></th>",
            format_date(day, "D j M"),
        )
    return format_html('<th scope="col">{}</th>', format_date(day, "D j M"))


def week_cell(
    row: Row, day: date, items: Iterable[SessionView], tz: tzinfo, today: date, oob: bool = False
) -> SafeString:
    cards = "".join(card(s, tz) for s in items)
    return format_html(
        '<td id="cal-c{}-{}"{}{}>{}</td>',
        row.ident,
        day.strftime("%Y%m%d"),
        mark_safe(' hx-swap-oob="outerHTML"') if oob else "",
        mark_safe(' class="today"') if day == today else "",
        mark_safe(cards),
    )


def group_cells(
    sessions: Iterable[SessionView], by: str, tz: tzinfo
) -> dict[tuple[int, date], list[SessionView]]:
    cells: dict[tuple[int, date], list[SessionView]] = {}
    for s in sessions:
        cells.setdefault((row_of(s, by), s.starts_at.astimezone(tz).date()), []).append(s)
    return cells


def week_table(
    rows: list[Row],
    days: list[date],
    sessions: list[SessionView],
    *,
    by: str,
    tz: tzinfo,
    today: date,
    caption: str,
) -> SafeString:
    cells = group_cells(sessions, by, tz)
    head = format_html_join("", "{}", ((_day_head(d, today),) for d in days))
    body = "".join(
        format_html(
            '<tr><th scope="row">{}</th>{}</tr>',
            row.label,
            mark_safe(
                "".join(week_cell(row, d, cells.get((row.ident, d), ()), tz, today) for d in days)
            ),
        )
        for row in rows
    )
    return format_html(
        '<div class="cal-scroll" role="region" aria-labelledby="cal-caption" tabindex="0"{}>'
        '<table class="cal-week"><caption id="cal-caption">{}</caption>'
        '<thead><tr><th scope="col">{}</th>{}</tr></thead><tbody>{}</tbody></table></div>',
        BOOST,
        caption,
        "Coach" if by == "coach" else "Court",
        head,
        mark_safe(body),
    )


def day_span(sessions: list[SessionView], tz: tzinfo) -> tuple[int, int]:
    """The half-hours the day grid shows: 07:00 to 21:00, widened to fit every session."""
    first, last = 7 * 60, 21 * 60
    for s in sessions:
        start = s.starts_at.astimezone(tz)
        end = s.ends_at.astimezone(tz)
        first = min(first, start.hour * 60 + start.minute)
        last = max(last, 24 * 60 if end.date() > start.date() else end.hour * 60 + end.minute)
    first -= first % SLOT_MINUTES
    return first, last


def day_placer(rows: list[Row], tz: tzinfo) -> Callable[[SessionView], str]:
    """Where a card sits in the day grid: its court's column, grid rows from its start to its
    end counted in half-hours from midnight (the rows before the day's first are 0 high), so a
    pushed card is placed alike whatever else the day holds."""
    columns = {row.ident: i + 2 for i, row in enumerate(rows)}

    def place(s: SessionView) -> str:
        start = s.starts_at.astimezone(tz)
        end = s.ends_at.astimezone(tz)
        top = (start.hour * 60 + start.minute) // SLOT_MINUTES + 2
        end_minutes = 24 * 60 if end.date() > start.date() else end.hour * 60 + end.minute
        bottom = max(-(-end_minutes // SLOT_MINUTES) + 2, top + 1)
        return f"grid-column: {columns.get(s.court_id, 2)}; grid-row: {top} / {bottom}"

    return place


def day_grid(
    rows: list[Row], sessions: list[SessionView], *, tz: tzinfo, caption: str
) -> SafeString:
    """Columns: courts; rows: half-hours; each card spans its start to its end. Each court's
    heading comes before its cards in the page's order (a screen reader reads court by court)."""
    first, last = day_span(sessions, tz)
    place = day_placer(rows, tz)
    slots = range(first, last, SLOT_MINUTES)
    times = format_html_join(
        "",
        '<span class="cal-slot" style="grid-column: 1; grid-row: {}" aria-hidden="true">{}</span>',
        ((m // SLOT_MINUTES + 2, f"{m // 60:02d}:{m % 60:02d}") for m in slots),
    )
    parts: list[str] = []
    for i, row in enumerate(rows):
        parts.append(
            format_html(
                '<h2 class="cal-court" style="grid-column: {}; grid-row: 1">{}</h2>',
                i + 2,
                row.label,
            )
        )
        parts.extend(card(s, tz, place=place(s)) for s in sessions if s.court_id == row.ident)
    return format_html(
        '<div class="cal-scroll" role="region" aria-label="{}" tabindex="0"{}>'
        '<div class="cal-daygrid" style="--courts: {}; --skip: {}; --slots: {}">{}{}</div></div>',
        caption,
        BOOST,
        len(rows),
        max(first // SLOT_MINUTES, 1),  # CSS repeat() needs at least one: 00:00-00:30 is 0 high
        len(slots) - (0 if first else 1),
        times,
        mark_safe("".join(parts)),
    )
