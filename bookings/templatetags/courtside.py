"""Template filters every page shares (a builtin: no {% load %} needed)."""

from __future__ import annotations

from datetime import datetime, time

from django import template
from django.utils import timezone
from django.utils.html import format_html
from django.utils.safestring import SafeString

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
