"""Times and dates in the academy's words, for text built in Python (messages, emails, clash
reasons, admin rows). Templates use the same through the `timerange` filter and the formats in
config/formats (FORMAT_MODULE_PATH), so a page and a message never disagree."""

from __future__ import annotations

from datetime import date, datetime, time

from django.utils.dateformat import format as format_date
from django.utils.formats import get_format

# An en dash (U+2013) with no space around it: 07:00, dash, 08:00. A space before it once made
# a range read as a minus sign.
RANGE_DASH = "\u2013"


def clock(moment: datetime | time) -> str:
    """ "07:00": 24-hour clock, the moment's own time zone (callers convert first). strftime
    rather than Django's formatter: the calendar writes two of these per card, 1,000+ a week."""
    return moment.strftime("%H:%M")


def time_range(starts: datetime | time, ends: datetime | time) -> str:
    """Seven to eight: "07:00", RANGE_DASH, "08:00", no spaces."""
    return f"{clock(starts)}{RANGE_DASH}{clock(ends)}"


def day_and_time(moment: datetime) -> str:
    """ "Mon 30 Nov, 07:00" (SHORT_DATETIME_FORMAT)."""
    return format_date(moment, get_format("SHORT_DATETIME_FORMAT"))


def short_date(moment: date) -> str:
    """ "Mon 30 Nov" (SHORT_DATE_FORMAT)."""
    return format_date(moment, get_format("SHORT_DATE_FORMAT"))
