"""Calendar feeds: a private .ics address per user and scope, for any calendar app.

- The token (32 random bytes, URL-safe) is the only credential: no session or cookie is
  needed, because calendar apps have none. Only its SHA-256 is stored, looked up through a
  unique index: a database leak gives no working address, and a lookup by a hash reveals
  nothing about the stored ones (guessing one would need a preimage), so no timing matters.
- Scopes: a player's own bookings, a parent's children's, a coach's sessions and lessons.
  Whether the owner may still have it is asked on every fetch (access.may_subscribe), so an
  unlinked guardian or a deactivated coach gets 404 at once.
- A coach's feed shows counts ("5/8 booked"), never players' names: a feed leaves Courtside
  (third-party calendar servers, phones, shared calendars, a forwarded address), while the
  names of who is coming stay behind the login, one link away. A family's feed names only its
  own players.
- Contents: from 30 days ago to 180 days ahead. Stable UIDs (`reservation-<id>@<host>`,
  `lesson-<id>@…`, `coaching-session-<id>@…`, `coaching-lesson-<id>@…`), start and end in the
  academy's time zone with its VTIMEZONE, STATUS:CANCELLED (and free time) for what was
  cancelled, SEQUENCE from the session's version, DTSTAMP and LAST-MODIFIED from the rows'
  own times, so the same data gives the same bytes (and ETag).
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from urllib.parse import urlencode, urlsplit

from django.conf import settings
from django.db.models import Max, Prefetch
from django.urls import reverse
from icalendar import Calendar, Event, Timezone
from icalendar.enums import STATUS, TRANSP
from icalendar.prop import vDuration

from bookings.access import Principal
from bookings.models import CalendarFeed, IndividualBooking, Player, SessionReservation
from scheduling.models import Academy, Coach, GroupSession

PAST = timedelta(days=30)
AHEAD = timedelta(days=180)
REFRESH = timedelta(hours=1)  # what the feed asks calendar apps to poll at
PRODID = "-//Courtside//Calendar feed//EN"
Scope = CalendarFeed.Scope


def new_token() -> str:
    return secrets.token_urlsafe(32)


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def find(token: str) -> CalendarFeed | None:
    """The feed of a token, or None (an unknown, revoked or malformed one)."""
    if not 20 <= len(token) <= 100:
        return None
    return (
        CalendarFeed.objects.select_related("user", "coach__academy")
        .filter(token_hash=digest(token))
        .first()
    )


@dataclass(frozen=True)
class Offer:
    """A feed a user may have: its scope, the coach it is of, and how the page names it."""

    scope: str
    coach: Coach | None
    label: str
    hint: str

    @property
    def coach_id(self) -> int | None:
        return self.coach.pk if self.coach else None


def offers(principal: Principal) -> list[Offer]:
    """The feeds this user may have, in the order the account page lists them."""
    found = []
    if principal.own_player_academy_by_id:
        found.append(Offer(Scope.MINE, None, "My bookings", "Your sessions and lessons."))
    if principal.child_academy_by_id:
        found.append(
            Offer(
                Scope.FAMILY,
                None,
                "My children's bookings",
                "Every session and lesson of the children linked to you, each with its name.",
            )
        )
    coaches = Coach.objects.filter(pk__in=principal.coach_academy_by_id).select_related("academy")
    for coach in coaches.order_by("academy__name"):
        found.append(
            Offer(
                Scope.COACH,
                coach,
                f"My coaching at {coach.academy.name}",
                "Your group sessions with how many are booked, and your lessons. No names: "
                "who is coming is on your day page.",
            )
        )
    return found


def calendar_name(feed: CalendarFeed) -> str:
    if feed.scope == Scope.COACH and feed.coach is not None:
        return f"Courtside: {feed.coach.display_name}'s coaching"
    return "Courtside: my family" if feed.scope == Scope.FAMILY else "Courtside: my bookings"


# -- the calendar ------------------------------------------------------------------------------


def calendar_for(feed: CalendarFeed, principal: Principal, *, now: datetime) -> bytes:
    """The feed's calendar now, for its owner as the access rules see them (`principal`)."""
    since, until = now - PAST, now + AHEAD
    if feed.scope == Scope.COACH:
        coach = feed.coach
        assert coach is not None  # the check constraint: a coach feed names its coach
        events = _coaching(coach, since, until, fallback_stamp=feed.created_at)
        academies = [coach.academy]
    else:
        by_player = (
            principal.child_academy_by_id
            if feed.scope == Scope.FAMILY
            else principal.own_player_academy_by_id
        )
        events = _bookings(set(by_player), since, until, named=feed.scope == Scope.FAMILY)
        academies = list(Academy.objects.filter(pk__in=set(by_player.values())))

    zones = sorted({a.time_zone for a in academies} or {settings.TIME_ZONE})
    calendar = Calendar.new(
        prodid=PRODID,
        name=calendar_name(feed),
        uid=f"feed-{feed.pk}@{uid_domain()}",
        calscale="GREGORIAN",
        refresh_interval=REFRESH,
        url=settings.SITE_URL + reverse("account"),
    )
    calendar.add("x-published-ttl", vDuration(REFRESH))  # Outlook's REFRESH-INTERVAL
    if len(zones) == 1:
        calendar.add("x-wr-timezone", zones[0])
    # Every zone of the owner's academies, so that a calendar without events still has a
    # component (RFC 5545 needs one), covering whole years: the bytes change with the data.
    first, last = date(since.year, 1, 1), date(until.year + 1, 1, 1)
    for zone in zones:
        calendar.add_component(Timezone.from_tzid(zone, first_date=first, last_date=last))
    for event in events:
        calendar.add_component(event)
    return calendar.to_ical()


def uid_domain() -> str:
    return urlsplit(settings.SITE_URL).hostname or "courtside"


def _event(
    *,
    uid: str,
    summary: str,
    starts_at: datetime,
    ends_at: datetime,
    academy: Academy,
    cancelled: bool,
    sequence: int,
    stamp: datetime,
    location: str,
    details: Iterable[str],
    link: tuple[str, str],
) -> Event:
    """One VEVENT. `details` are lines of the description (empty ones left out), `link` the
    label and address of the page where it can be seen."""
    tz = academy.tz
    stamp = stamp.astimezone(UTC).replace(microsecond=0)
    return Event.new(
        uid=f"{uid}@{uid_domain()}",
        summary=f"Cancelled: {summary}" if cancelled else summary,
        start=starts_at.astimezone(tz),
        end=ends_at.astimezone(tz),
        stamp=stamp,
        last_modified=stamp,
        sequence=sequence,
        status=STATUS.CANCELLED if cancelled else STATUS.CONFIRMED,
        transparency=TRANSP.TRANSPARENT if cancelled else TRANSP.OPAQUE,
        location=location,
        description="\n".join([*(line for line in details if line), "", ": ".join(link)]),
        url=link[1],
    )


def _where(court: str, academy: Academy) -> str:
    return f"{court}, {academy.name}" if court else academy.name


def _page(name: str, **query: object) -> str:
    return settings.SITE_URL + reverse(name) + (f"?{urlencode(query)}" if query else "")


def _bookings(
    player_ids: set[int], since: datetime, until: datetime, *, named: bool
) -> list[Event]:
    """A family's (or a player's own) reservations and lessons, cancelled ones too (3 queries)."""
    reservations = (
        SessionReservation.objects.filter(
            player_id__in=player_ids,
            session__starts_at__gte=since,
            session__starts_at__lt=until,
        )
        .select_related("player", "session__academy", "session__session_type", "session__court")
        .prefetch_related(Prefetch("session__coaches", queryset=Coach.objects.order_by("id")))
    )
    lessons = IndividualBooking.objects.filter(
        player_id__in=player_ids, starts_at__gte=since, starts_at__lt=until
    ).select_related("player", "academy", "coach", "session_type", "court")

    def title(text: str, player: Player) -> str:
        return f"{player.first_name}: {text}" if named else text

    def link(player: Player) -> str:
        if named:
            return _page("parent_home", tab="reservations", player=player.pk)
        return _page("player_home", tab="reservations")

    events = []
    for r in reservations:
        s = r.session
        cancelled = not r.is_active or s.is_cancelled
        stamps = [r.updated_at, *([s.cancelled_at] if s.cancelled_at else [])]
        events.append(
            _event(
                uid=f"reservation-{r.pk}",
                summary=title(s.display_title, r.player),
                starts_at=s.starts_at,
                ends_at=s.ends_at,
                academy=s.academy,
                cancelled=cancelled,
                sequence=s.version,  # moves with every change of the session or its bookings
                stamp=max(stamps),
                location=_where(s.court.name if s.court else "", s.academy),
                details=[
                    "This booking was cancelled." if cancelled else "",
                    f"For {r.player.full_name}" if named else "",
                    "Coach: " + ", ".join(c.display_name for c in s.coaches.all()),
                ],
                link=("Your bookings", link(r.player)),
            )
        )
    for b in lessons:
        events.append(
            _event(
                uid=f"lesson-{b.pk}",
                summary=title(b.session_type.name, b.player),
                starts_at=b.starts_at,
                ends_at=b.ends_at,
                academy=b.academy,
                cancelled=not b.is_active,
                sequence=0 if b.is_active else 1,  # a lesson changes once: cancelled
                stamp=b.updated_at,
                location=_where(b.court.name if b.court else "", b.academy),
                details=[
                    "This lesson was cancelled." if not b.is_active else "",
                    f"For {b.player.full_name}" if named else "",
                    f"Coach: {b.coach.display_name}",
                ],
                link=("Your bookings", link(b.player)),
            )
        )
    return events


def _coaching(
    coach: Coach, since: datetime, until: datetime, *, fallback_stamp: datetime
) -> list[Event]:
    """A coach's group sessions (with counts) and lessons, cancelled ones too (3 queries)."""
    sessions = (
        GroupSession.objects.filter(
            assignments__coach=coach, starts_at__gte=since, starts_at__lt=until
        )
        .select_related("academy", "session_type", "court")
        .annotate(last_booking_change=Max("reservations__updated_at"))
        .prefetch_related(Prefetch("coaches", queryset=Coach.objects.order_by("id")))
    )
    lessons = IndividualBooking.objects.filter(
        coach=coach, starts_at__gte=since, starts_at__lt=until
    ).select_related("academy", "session_type", "court")

    def day_page(moment: datetime, academy: Academy) -> str:
        return _page("coach_home", date=moment.astimezone(academy.tz).date().isoformat())

    events = []
    for s in sessions:
        others = [c.display_name for c in s.coaches.all() if c.pk != coach.pk]
        stamps = [t for t in (s.cancelled_at, s.last_booking_change) if t is not None]
        booked = f"{s.reserved_count}/{s.capacity} booked"
        events.append(
            _event(
                uid=f"coaching-session-{s.pk}",
                summary=s.display_title if s.is_cancelled else f"{s.display_title} · {booked}",
                starts_at=s.starts_at,
                ends_at=s.ends_at,
                academy=s.academy,
                cancelled=s.is_cancelled,
                sequence=s.version,
                stamp=max(stamps, default=fallback_stamp),
                location=_where(s.court.name if s.court else "", s.academy),
                details=[
                    "This session was cancelled."
                    if s.is_cancelled
                    else f"{s.reserved_count} of {s.capacity} places booked.",
                    f"With {', '.join(others)}" if others else "",
                ],
                link=("Who is coming", day_page(s.starts_at, s.academy)),
            )
        )
    for b in lessons:
        events.append(
            _event(
                uid=f"coaching-lesson-{b.pk}",
                summary=b.session_type.name,
                starts_at=b.starts_at,
                ends_at=b.ends_at,
                academy=b.academy,
                cancelled=not b.is_active,
                sequence=0 if b.is_active else 1,
                stamp=b.updated_at,
                location=_where(b.court.name if b.court else "", b.academy),
                details=[
                    "This lesson was cancelled." if not b.is_active else "A one-to-one lesson."
                ],
                link=("Who is coming", day_page(b.starts_at, b.academy)),
            )
        )
    return events
