"""Which dates pages and streams accept: a real date within MAX_DAYS_AWAY of today."""

from __future__ import annotations

from datetime import date

from django.utils import timezone

MAX_DAYS_AWAY = 400  # dates further than this from today are refused, not rendered


def parse_date(text: str) -> date | None:
    try:
        day = date.fromisoformat(text)
    except ValueError:
        return None
    return day if within_range(day) else None


def within_range(day: date) -> bool:
    return abs((day - timezone.localdate()).days) <= MAX_DAYS_AWAY
