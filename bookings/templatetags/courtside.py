"""Template filters and tags every page shares (a builtin: no {% load %} needed)."""

from __future__ import annotations

from datetime import date, datetime, time

from django import template
from django.utils import timezone
from django.utils.html import format_html
from django.utils.safestring import SafeString

from bookings.forms.widgets import DayInput
from scheduling.times import RANGE_DASH, clock

register = template.Library()


@register.filter(expects_localtime=True)
def timerange(starts_at: datetime | time, ends_at: datetime | time) -> SafeString:
    """A time range, one way everywhere (scheduling.times.time_range), with machine-readable
    times and no space around the dash (whitespace in a template once put one before it).
    `|striptags` gives the plain text (emails, <option>s)."""
    if isinstance(ends_at, datetime) and timezone.is_aware(
        ends_at
    ):  # the start is (expects_localtime)
        ends_at = timezone.localtime(ends_at)
    return format_html(
        '<time datetime="{}">{}</time>' + RANGE_DASH + '<time datetime="{}">{}</time>',
        starts_at.isoformat(),
        clock(starts_at),
        ends_at.isoformat(),
        clock(ends_at),
    )


@register.simple_tag
def day_input(name: str, day: date, field_id: str) -> SafeString:
    """A required date field outside a Django form (the pages' GET filters), drawn by the same
    widget as the forms' date fields: the picker and the day in the academy's words beside it."""
    return DayInput().render(name, day, {"id": field_id, "required": True})
