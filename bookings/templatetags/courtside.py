"""Template filters every page shares (a builtin: no {% load %} needed)."""

from __future__ import annotations

from datetime import datetime

from django import template
from django.utils.dateformat import format as format_date
from django.utils.timezone import template_localtime
from django.utils.html import format_html
from django.utils.safestring import SafeString

register = template.Library()


@register.filter(expects_localtime=True)
def timerange(starts_at: datetime, ends_at: datetime) -> SafeString:
    """"07:00–08:00": one way of writing a time range everywhere, with machine-readable times
    and no space around the dash (whitespace in a template used to read "07:00 –08:00").
    `|striptags` gives the plain text (emails, <option>s)."""
    ends_at = template_localtime(ends_at)
    return format_html(
        '<time datetime="{}">{}</time>–<time datetime="{}">{}</time>',
        starts_at.isoformat(),
        format_date(starts_at, "H:i"),
        ends_at.isoformat(),
        format_date(ends_at, "H:i"),
    )
