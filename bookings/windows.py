"""When check-in and ratings are open: the one statement of each window, for the services that
enforce them and the fragments that show (or hide) their buttons."""

from __future__ import annotations

from datetime import date, datetime, timedelta, tzinfo

CHECKIN_DAYS = 14  # a forgotten mark can still be made or corrected this long after the day
RATING_DAYS = 7  # a family rates (and may change the rating) until this long after the end


def checkin_open_on(day: date, today: date) -> bool:
    """May attendees of a session on local `day` be marked (or added as walk-ins) on `today`?
    From the morning of the session's day (a player who arrives early is present) until
    CHECKIN_DAYS later; never ahead of the day, when an "absent" would be a guess."""
    return day <= today and (today - day).days <= CHECKIN_DAYS


def checkin_open(starts_at: datetime, tz: tzinfo, now: datetime) -> bool:
    return checkin_open_on(starts_at.astimezone(tz).date(), now.astimezone(tz).date())


def rating_open(starts_at: datetime, ends_at: datetime, now: datetime) -> bool:
    """May an attendee's family rate the session (or change their rating) now? Once it has
    begun, until RATING_DAYS after its end. (They must also have been there: the service and
    the lists check the mark.)"""
    return starts_at <= now <= ends_at + timedelta(days=RATING_DAYS)
