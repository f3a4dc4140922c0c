"""Reads for pages and live fragments. Each returns plain data in a fixed number of queries,
whatever the number of rows, so a page with thousands of sessions stays fast."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta, tzinfo

from django.db.models import Count, OuterRef, Prefetch, Q, QuerySet, Subquery
from django.utils import timezone

from bookings.models import (
    Attendance,
    Feedback,
    GuardianLink,
    InboxItem,
    IndividualBooking,
    Player,
    SessionReservation,
    WaitlistEntry,
)
from bookings.windows import rating_open
from scheduling.models import Academy, Coach, CoachTimeOff, Court, GroupSession, SessionType
from scheduling.slots import Interval, Slot, day_bounds, generate_slots
from scheduling.times import clock, day_and_time, short_date, time_range

RECENT_DAYS = 14  # "My schedule" shows this much of the past
UPCOMING_DAYS = 60  # and this much of the future


def mark_label(mark: str, marked_at: datetime | None) -> str:
    """How a check-in mark reads wherever it shows (a card, a family's list, the desk), in the
    time zone the page or push renders in: "Checked in 16:02"."""
    at = timezone.localtime(marked_at).strftime("%H:%M") if marked_at else ""
    return {
        "present": f"Checked in {at}",
        "late": f"Checked in late {at}",
        "absent": "Marked absent",
    }.get(mark, "")


@dataclass(frozen=True)
class Entry:
    """One line of a schedule: a group session reservation, an individual lesson, or a place on
    a group session's waiting list (waiting, or offered a spot until `until`)."""

    kind: str  # "group", "lesson", "waiting" or "offered"
    pk: int  # the reservation's, booking's or waiting list entry's id
    title: str
    starts_at: datetime
    ends_at: datetime
    player_id: int
    player_name: str
    coach_names: str
    court: str
    colour: str
    cancellable: bool  # by the family: in the future and before the academy's cut-off
    mark: str = ""  # the check-in: "", present, late, absent
    marked_at: datetime | None = None
    attendance_id: int | None = None
    rating: int | None = None  # the family's rating of it, if any
    can_rate: bool = False  # attended, and ratings still open (bookings.windows)
    session_id: int = 0  # group kinds: the session
    coach_id: int = 0  # lessons: the coach
    position: int = 0  # waiting: 1 for the first in line
    until: datetime | None = None  # offered: held until then
    # Group kinds: the session type, named beside a titled session (a neutral mark, not a colour).
    type_name: str = ""

    @property
    def mark_label(self) -> str:
        return mark_label(self.mark, self.marked_at)

    @property
    def on_waitlist(self) -> bool:
        return self.kind in ("waiting", "offered")

    @property
    def place(self) -> str:
        return ordinal(self.position)


def ordinal(n: int) -> str:
    """1st, 2nd, 3rd, 4th, 11th, 12th, 13th, 21st..."""
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def _attendance_fields(
    attendance: Attendance | None, starts_at: datetime, ends_at: datetime, now: datetime
) -> dict:
    """An entry's check-in and rating, from its attendance (select_related with its feedback)."""
    if attendance is None:
        return {}
    feedback: Feedback | None = getattr(attendance, "feedback", None)
    return {
        "mark": attendance.status,
        "marked_at": attendance.marked_at,
        "attendance_id": attendance.pk,
        "rating": feedback.rating if feedback is not None else None,
        "can_rate": attendance.attended and rating_open(starts_at, ends_at, now),
    }


def family_players(user_id: int) -> list[Player]:
    return [
        link.player
        for link in GuardianLink.objects.filter(guardian_id=user_id)
        .select_related("player__academy")
        .order_by("player__first_name")
    ]


def schedule_entries(
    player_ids: Iterable[int], *, now: datetime | None = None, upcoming_only: bool = False
) -> list[Entry]:
    """Active reservations, lessons and waiting list places of these players, oldest first
    (four queries)."""
    now = now or timezone.now()
    ids = list(player_ids)
    since = now if upcoming_only else now - timedelta(days=RECENT_DAYS)
    until = now + timedelta(days=UPCOMING_DAYS)
    reservations = (
        SessionReservation.objects.filter(
            player_id__in=ids,
            status=SessionReservation.Status.RESERVED,
            session__status=GroupSession.Status.SCHEDULED,
            session__starts_at__gte=since,
            session__starts_at__lt=until,
        )
        .select_related(
            "player",
            "session__session_type",
            "session__court",
            "session__academy",
            "attendance__feedback",
        )
        .prefetch_related(Prefetch("session__coaches", queryset=Coach.objects.order_by("id")))
    )
    lessons = IndividualBooking.objects.filter(
        player_id__in=ids,
        status=IndividualBooking.Status.BOOKED,
        starts_at__gte=since,
        starts_at__lt=until,
    ).select_related("player", "coach", "session_type", "court", "academy", "attendance__feedback")

    entries = []
    for r in reservations:
        s = r.session
        entries.append(
            Entry(
                kind="group",
                pk=r.pk,
                title=s.display_title,
                starts_at=s.starts_at,
                ends_at=s.ends_at,
                player_id=r.player_id,
                player_name=r.player.full_name,
                coach_names=", ".join(c.display_name for c in s.coaches.all()),
                court=s.court.name if s.court else "",
                colour=s.session_type.colour,
                cancellable=s.academy.cancellable_online(s.starts_at, now),
                **_attendance_fields(_attendance_of(r), s.starts_at, s.ends_at, now),
                session_id=s.pk,
                type_name=s.session_type.name,
            )
        )
    for w in _waitlist_places(ids, now, until):
        s = w.session
        entries.append(
            Entry(
                kind=w.status,
                pk=w.pk,
                title=s.display_title,
                starts_at=s.starts_at,
                ends_at=s.ends_at,
                player_id=w.player_id,
                player_name=w.player.full_name,
                coach_names=", ".join(c.display_name for c in s.coaches.all()),
                court=s.court.name if s.court else "",
                colour=s.session_type.colour,
                cancellable=True,  # leaving the list is always possible
                session_id=s.pk,
                position=getattr(w, "ahead", 0) or 0,  # annotated by _waitlist_places
                until=w.offered_until,
                type_name=s.session_type.name,
            )
        )
    for b in lessons:
        entries.append(
            Entry(
                kind="lesson",
                pk=b.pk,
                title=b.session_type.name,
                starts_at=b.starts_at,
                ends_at=b.ends_at,
                player_id=b.player_id,
                player_name=b.player.full_name,
                coach_names=b.coach.display_name,
                court=b.court.name if b.court else "",
                colour=b.session_type.colour,
                cancellable=b.academy.cancellable_online(b.starts_at, now),
                **_attendance_fields(_attendance_of(b), b.starts_at, b.ends_at, now),
                coach_id=b.coach_id,
            )
        )
    entries.sort(key=lambda e: (e.starts_at, e.kind, e.pk))
    return entries


def _attendance_of(row: SessionReservation | IndividualBooking) -> Attendance | None:
    """The row's attendance, read with it (select_related), or None: not marked."""
    return getattr(row, "attendance", None)


@dataclass(frozen=True)
class Attendee:
    """One attendee on a calendar card: their reservation's (or lesson's) id, name and mark."""

    ident: int
    name: str
    mark: str = ""  # "", present, late, absent
    marked_at: datetime | None = None
    walk_in: bool = False

    @property
    def mark_label(self) -> str:
        return mark_label(self.mark, self.marked_at)


def _attendee(row: SessionReservation | IndividualBooking) -> Attendee:
    attendance = _attendance_of(row)
    if attendance is None:
        return Attendee(row.pk, row.player.full_name)
    return Attendee(
        row.pk, row.player.full_name, attendance.status, attendance.marked_at, attendance.walk_in
    )


def _waitlist_places(ids: list[int], now: datetime, until: datetime) -> list[WaitlistEntry]:
    """The players' open waiting list entries of sessions still to come, each with its place
    in the queue (`ahead`: 1 for the first waiting; offered entries are out of the queue)."""
    place = (
        WaitlistEntry.objects.filter(
            session=OuterRef("session"), status=WaitlistEntry.Status.WAITING, id__lte=OuterRef("id")
        )
        .values("session")
        .annotate(n=Count("id"))
        .values("n")
    )
    return list(
        WaitlistEntry.objects.filter(
            player_id__in=ids,
            status__in=WaitlistEntry.OPEN,
            session__status=GroupSession.Status.SCHEDULED,
            session__starts_at__gte=now,
            session__starts_at__lt=until,
        )
        .annotate(ahead=Subquery(place))
        .select_related("player", "session__session_type", "session__court")
        .prefetch_related(Prefetch("session__coaches", queryset=Coach.objects.order_by("id")))
    )


def closed_types(players: list[Player], on: date) -> dict[int, list[int]]:
    """For each player, the group session types of their academy they may not join on `on`
    (one query): what the pages mark as "not open to" them."""
    academy_ids = {p.academy_id for p in players}
    types = [
        t
        for t in SessionType.objects.filter(academy_id__in=academy_ids, kind=SessionType.Kind.GROUP)
        if t.has_audience
    ]
    return {
        p.pk: [
            t.pk
            for t in types
            if t.academy_id == p.academy_id
            and t.refusal(first_name=p.first_name, birth_date=p.birth_date, level=p.level, on=on)
        ]
        for p in players
    }


@dataclass
class SessionView:
    """A group session or lesson as a calendar shows it."""

    kind: str  # "group" or "lesson"
    pk: int
    title: str
    starts_at: datetime
    ends_at: datetime
    coach_ids: list[int]
    coach_names: str
    court: str
    colour: str
    capacity: int
    booked: int
    cancelled: bool = False
    attendees: list[Attendee] = field(default_factory=list)  # empty where names are hidden
    # Check-in counts, shown to whoever sees the session (no names in them).
    marked: int = 0
    present: int = 0  # present or late
    held: int = 0  # spots offered to waiting players
    waiting: int = 0
    type_id: int = 0
    type_name: str = ""  # a neutral label beside a titled session and on calendar cards
    audience: str = ""  # who the type is for ("Ages 8-17"), "" for anyone
    series_id: int | None = None
    notes: str = ""
    court_id: int = 0  # 0: no court

    @property
    def checkin_complete(self) -> bool:
        """Everyone booked has been marked."""
        return self.booked > 0 and self.marked >= self.booked

    @property
    def spots_left(self) -> int:
        return max(self.capacity - self.booked - self.held, 0)

    @property
    def occupancy(self) -> str:
        """Seed 001's colour bands: green below 60 %, amber below 100 %, red when full."""
        if self.capacity == 0 or self.booked + self.held >= self.capacity:
            return "full"
        return "busy" if self.booked / self.capacity >= 0.6 else "open"

    @property
    def occupancy_label(self) -> str:
        return {"full": "Full", "busy": "Filling up", "open": "Spaces"}[self.occupancy]


def sessions_between(
    academy_id: int,
    start: datetime | None,
    end: datetime | None,
    *,
    names_for_coach_ids: frozenset[int] | None = None,
    all_names: bool = False,
    coach_id: int | None = None,
    include_lessons: bool = True,
    session_ids: Iterable[int] | None = None,
    attendees: bool = True,
) -> list[SessionView]:
    """Group sessions and lessons of an academy in [start, end) (None: unbounded), oldest first.

    Attendee names are filled in only where the viewer may read them (see for_viewer). Four
    queries. `attendees` False: the group sessions' check-in counts only, counted in the
    database (no reservation rows read: a week of 1,000 sessions has ~8,000 of them).
    """
    sessions = GroupSession.objects.filter(
        academy_id=academy_id, status=GroupSession.Status.SCHEDULED
    ).select_related("session_type", "court")
    if start is not None:
        sessions = sessions.filter(ends_at__gt=start)
    if end is not None:
        sessions = sessions.filter(starts_at__lt=end)
    if coach_id is not None:
        sessions = sessions.filter(assignments__coach_id=coach_id)
    if session_ids is not None:
        sessions = sessions.filter(pk__in=list(session_ids))
    sessions = sessions.prefetch_related(Prefetch("coaches", queryset=Coach.objects.order_by("id")))
    if attendees:
        sessions = sessions.prefetch_related(
            Prefetch(
                "reservations",
                queryset=SessionReservation.objects.filter(
                    status=SessionReservation.Status.RESERVED
                ).select_related("player", "attendance"),
                to_attr="active_reservations",
            )
        )
    else:
        marked = Q(
            reservations__status=SessionReservation.Status.RESERVED,
            reservations__attendance__isnull=False,
        )
        here = marked & Q(reservations__attendance__status__in=["present", "late"])
        sessions = sessions.annotate(
            n_marked=Count("reservations", filter=marked),
            n_present=Count("reservations", filter=here),
        )
    views = []
    for s in sessions:
        coaches = list(s.coaches.all())
        # getattr: the queryset is one of two annotated shapes (mypy's plugin types each apart)
        marks = (
            _attendees([_attendee(r) for r in getattr(s, "active_reservations")])  # noqa: B009
            if attendees
            else {"marked": getattr(s, "n_marked"), "present": getattr(s, "n_present")}  # noqa: B009
        )
        views.append(
            SessionView(
                kind="group",
                pk=s.pk,
                title=s.display_title,
                starts_at=s.starts_at,
                ends_at=s.ends_at,
                coach_ids=[c.pk for c in coaches],
                coach_names=", ".join(c.display_name for c in coaches),
                court=s.court.name if s.court else "",
                colour=s.session_type.colour,
                capacity=s.capacity,
                booked=s.reserved_count,
                **marks,
                held=s.held_count,
                waiting=s.waiting_count,
                type_id=s.session_type_id,
                type_name=s.session_type.name,
                audience=s.session_type.audience,
                series_id=s.series_id,
                notes=s.notes,
                court_id=s.court_id or 0,
            )
        )
    if include_lessons:
        lessons = IndividualBooking.objects.filter(
            academy_id=academy_id, status=IndividualBooking.Status.BOOKED
        ).select_related("coach", "player", "session_type", "court", "attendance")
        if start is not None:
            lessons = lessons.filter(ends_at__gt=start)
        if end is not None:
            lessons = lessons.filter(starts_at__lt=end)
        if coach_id is not None:
            lessons = lessons.filter(coach_id=coach_id)
        for b in lessons:
            views.append(
                SessionView(
                    kind="lesson",
                    pk=b.pk,
                    title=b.session_type.name,
                    starts_at=b.starts_at,
                    ends_at=b.ends_at,
                    coach_ids=[b.coach_id],
                    coach_names=b.coach.display_name,
                    court=b.court.name if b.court else "",
                    colour=b.session_type.colour,
                    capacity=1,
                    booked=1,
                    **_attendees([_attendee(b)]),
                    type_id=b.session_type_id,
                    type_name=b.session_type.name,
                    court_id=b.court_id or 0,
                )
            )
    views.sort(key=lambda v: (v.starts_at, v.kind, v.pk))
    return for_viewer(views, all_names=all_names, names_for_coach_ids=names_for_coach_ids)


def _attendees(attendees: list[Attendee]) -> dict:
    return {
        "attendees": attendees,
        "marked": sum(1 for a in attendees if a.mark),
        "present": sum(1 for a in attendees if a.mark in ("present", "late")),
    }


def for_viewer(
    views: list[SessionView],
    *,
    all_names: bool = False,
    names_for_coach_ids: frozenset[int] | None = None,
) -> list[SessionView]:
    """The views as one viewer may see them: attendee names on every session with all_names
    (staff), else only on the sessions and lessons of names_for_coach_ids (a coach's own)."""
    names_for = names_for_coach_ids or frozenset()
    return [
        v if all_names or names_for.intersection(v.coach_ids) else replace(v, attendees=[])
        for v in views
    ]


def day_range(academy: Academy, day: date, days: int = 1) -> tuple[datetime, datetime]:
    start, _ = day_bounds(day, academy.tz)
    _, end = day_bounds(day + timedelta(days=days - 1), academy.tz)
    return start, end


def find_players(academy_id: int, query: str, limit: int = 20) -> list[Player]:
    """Staff search by name (first, last or both)."""
    query = query.strip()
    if not query:
        return []
    terms = Q()
    for word in query.split()[:3]:
        terms &= Q(first_name__icontains=word) | Q(last_name__icontains=word)
    return list(Player.objects.filter(terms, academy_id=academy_id).order_by("first_name")[:limit])


# -- when people and courts are busy ---------------------------------------------------------------


def coach_busy(coach_id: int, start: datetime, end: datetime) -> list[Interval]:
    """When a coach teaches in [start, end): their lessons and scheduled group sessions."""
    lessons, sessions = _coach_uses(coach_id, start, end)
    return [
        *lessons.values_list("starts_at", "ends_at"),
        *sessions.values_list("starts_at", "ends_at"),
    ]


Span = tuple[datetime, datetime, int | None]  # start, end, a group session to leave out
Use = GroupSession | IndividualBooking


def coach_clash(
    coach_id: int, start: datetime, end: datetime, *, exclude_session: int | None = None
) -> Use | None:
    """What a coach teaches in [start, end), if anything (other than `exclude_session`)."""
    return coach_clashes(coach_id, [(start, end, exclude_session)])[0]


def coach_clashes(coach_id: int, spans: list[Span]) -> list[Use | None]:
    """coach_clash for many spans at once (a series): two queries whatever their number."""
    lo, hi = _bounds(spans)
    lessons, sessions = _coach_uses(coach_id, lo, hi)
    return _first_uses(
        spans,
        list(sessions.select_related("session_type")),
        list(lessons.select_related("session_type")),
    )


def _bounds(spans: list[Span]) -> tuple[datetime, datetime]:
    return min(s for s, _, _ in spans), max(e for _, e, _ in spans)


def _first_uses(
    spans: list[Span], sessions: list[GroupSession], lessons: list[IndividualBooking]
) -> list[Use | None]:
    """For each span, the first session (else lesson) overlapping it, in time order."""
    found: list[Use | None] = []
    uses: list[Use] = [*sessions, *lessons]
    for start, end, exclude in spans:
        overlapping = (
            use
            for use in uses
            if use.starts_at < end
            and use.ends_at > start
            and not (isinstance(use, GroupSession) and use.pk == exclude)
        )
        found.append(next(overlapping, None))
    return found


def _coach_uses(
    coach_id: int, start: datetime, end: datetime
) -> tuple[QuerySet[IndividualBooking], QuerySet[GroupSession]]:
    lessons = IndividualBooking.objects.filter(
        coach_id=coach_id,
        status=IndividualBooking.Status.BOOKED,
        starts_at__lt=end,
        ends_at__gt=start,
    )
    sessions = GroupSession.objects.filter(
        assignments__coach_id=coach_id,
        status=GroupSession.Status.SCHEDULED,
        starts_at__lt=end,
        ends_at__gt=start,
    )
    return lessons, sessions


def lesson_slots(
    coach: Coach,
    session_type: SessionType,
    day: date,
    *,
    now: datetime | None = None,
    enforce_notice: bool = True,
) -> list[Slot]:
    """A coach's lesson slots of one type on one day (scheduling.slots), with when they teach."""
    return generate_slots(
        coach=coach,
        session_type=session_type,
        day=day,
        busy_between=lambda start, end: coach_busy(coach.pk, start, end),
        now=now,
        enforce_notice=enforce_notice,
    )


def court_clash(
    court: Court, start: datetime, end: datetime, *, exclude_session: int | None = None
) -> Use | None:
    """What uses a court in [start, end), if anything: a scheduled group session (other than
    `exclude_session`) or a booked lesson. The one court rule, for lessons and sessions."""
    return court_clashes(court, [(start, end, exclude_session)])[0]


def court_clashes(court: Court, spans: list[Span]) -> list[Use | None]:
    """court_clash for many spans at once (a series): two queries whatever their number."""
    lo, hi = _bounds(spans)
    overlap = Q(court=court, starts_at__lt=hi, ends_at__gt=lo)
    sessions = GroupSession.objects.filter(overlap, status=GroupSession.Status.SCHEDULED)
    lessons = IndividualBooking.objects.filter(overlap, status=IndividualBooking.Status.BOOKED)
    return _first_uses(
        spans,
        list(sessions.select_related("session_type")),
        list(lessons.select_related("session_type")),
    )


def coach_away(coach_id: int, spans: list[Span]) -> list[CoachTimeOff | None]:
    """For each span, the coach's time off overlapping it, if any (one query)."""
    lo, hi = _bounds(spans)
    away = list(CoachTimeOff.objects.filter(coach_id=coach_id, starts_at__lt=hi, ends_at__gt=lo))
    return [next((a for a in away if a.starts_at < e and a.ends_at > s), None) for s, e, _ in spans]


def describe_time_off(away: CoachTimeOff, tz: tzinfo) -> str:
    """Time off as a clash message says it: "Coaching at a tournament, Tue 24 Nov, 00:00 to
    Wed 25 Nov, 00:00"."""
    start, end = away.starts_at.astimezone(tz), away.ends_at.astimezone(tz)
    until = clock(end) if start.date() == end.date() else day_and_time(end)
    when = f"{day_and_time(start)} to {until}"
    return f"{away.reason}, {when}" if away.reason else when


def describe_use(use: GroupSession | IndividualBooking, tz: tzinfo) -> str:
    """A session or lesson in a clash message: its title, its day ("Tue 24 Nov") and its time
    range, written as every page writes them (scheduling.times)."""
    title = use.display_title if isinstance(use, GroupSession) else use.session_type.name
    start, end = use.starts_at.astimezone(tz), use.ends_at.astimezone(tz)
    return f"{title}, {short_date(start)}, {time_range(start, end)}"


# -- the inbox -------------------------------------------------------------------------------------


def unread_count(user_id: int) -> int:
    return InboxItem.objects.filter(user_id=user_id, read_at__isnull=True).count()


def unread_counts(user_ids: list[int]) -> dict[int, int]:
    """Unread inbox items per user, for many users in one query."""
    rows = (
        InboxItem.objects.filter(user_id__in=user_ids, read_at__isnull=True)
        .values("user_id")
        .annotate(n=Count("id"))
        .values_list("user_id", "n")
    )
    return dict(rows)


def inbox(user_id: int, limit: int = 100) -> list[InboxItem]:
    """A user's announcements, newest first, with what they need to be shown."""
    return list(
        InboxItem.objects.filter(user_id=user_id)
        .select_related(
            "announcement__sender", "announcement__session__session_type", "announcement__academy"
        )
        .order_by("-announcement__created_at", "-id")[:limit]
    )
