"""After COMMIT: what a batch of events changes, for whom, and who is told.

The publisher thread hands every batch of committed events (bookings.live.capture) to `route`.
It reads, once per batch, what the events name (the sessions with their coaches, the players
with their guardians), and answers with one Change per academy for the fragments to route on,
the toasts (bookings.live.notes) and the users whose access may have changed. Reads happen
here, after COMMIT and off the request path, not in the writer's transaction.

Routing follows the database as it is now: a family's lists go to the guardians linked now,
and a guardian who was unlinked is told to re-check (the link's own event names them).
"""

from __future__ import annotations

import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from django.db import connection
from django.utils.dateparse import parse_datetime

from bookings.live import notes
from bookings.live.changes import Change, merge_all
from bookings.models import Attendance, GuardianLink, IndividualBooking, Player, WaitlistEntry
from realtime.events import Event, Routing, router
from scheduling.models import Academy, Coach, GroupSession, SessionType, StaffAssignment


@dataclass
class SessionFacts:
    academy_id: int
    starts_at: datetime
    title: str
    cancelled: bool
    coach_users: dict[int, int] = field(default_factory=dict)  # coach id -> user id


@dataclass
class LessonFacts:
    academy_id: int
    starts_at: datetime
    coach_id: int


@dataclass
class AttendanceFacts:
    player_id: int
    session_id: int | None
    lesson_id: int | None


@dataclass
class PlayerFacts:
    academy_id: int
    user_id: int | None
    first_name: str
    guardian_ids: set[int] = field(default_factory=set)

    @property
    def family(self) -> set[int]:
        """The users who act for this player: their own login and their guardians."""
        return self.guardian_ids | ({self.user_id} if self.user_id else set())


class Facts:
    """What a batch's events name, read once: sessions, lessons, players, coaches' academies,
    and the attendances that ratings are of."""

    def __init__(self, events: list[Event]) -> None:
        attendance_ids = {e.data["attendance"] for e in events if e.name == "feedback"}
        self.attendances = _read_attendances(attendance_ids)
        session_ids: set[int] = set()
        lesson_ids: set[int] = set()
        player_ids: set[int] = set()
        coach_ids: set[int] = set()
        for a in self.attendances.values():
            player_ids.add(a.player_id)
            if a.session_id is not None:
                session_ids.add(a.session_id)
            if a.lesson_id is not None:
                lesson_ids.add(a.lesson_id)
        queues: set[int] = set()  # sessions whose waiting list moved
        for event in events:
            if event.name == "waitlist" and event.data["status"] != "waiting":
                queues.add(event.data["session"])
            data = event.data
            if "session" in data:
                session_ids.add(data["session"])
            if event.name == "session":
                session_ids.add(data["id"])
            if event.name == "attendance" and "lesson" in data:
                lesson_ids.add(data["lesson"])
            if "player" in data:
                player_ids.add(data["player"])
            player_ids.update(data.get("players", ()))
            if event.name in ("availability", "time_off"):
                coach_ids.add(data["coach"])
        # Whoever still waits behind an entry that left the queue moved up a place.
        self.waiting: dict[int, set[int]] = defaultdict(set)
        if queues:
            for session_id, player_id in WaitlistEntry.objects.filter(
                session_id__in=queues, status=WaitlistEntry.Status.WAITING
            ).values_list("session_id", "player_id"):
                self.waiting[session_id].add(player_id)
                player_ids.add(player_id)
        self.sessions = _read_sessions(session_ids)
        self.players = _read_players(player_ids)
        self.lessons = _read_lessons(lesson_ids)
        self.coach_academy = dict(
            Coach.objects.filter(pk__in=coach_ids).values_list("id", "academy_id")
        )


def _read_sessions(ids: set[int]) -> dict[int, SessionFacts]:
    found: dict[int, SessionFacts] = {}
    for pk, academy_id, starts_at, title, status, coach_id, user_id in _rows(_SESSIONS_SQL, ids):
        if pk not in found:
            cancelled = status == GroupSession.Status.CANCELLED
            found[pk] = SessionFacts(academy_id, _moment(starts_at), title, cancelled)
        if coach_id is not None:
            found[pk].coach_users[coach_id] = user_id
    return found


def _read_players(ids: set[int]) -> dict[int, PlayerFacts]:
    found: dict[int, PlayerFacts] = {}
    for pk, academy_id, user_id, first_name, guardian_id in _rows(_PLAYERS_SQL, ids):
        if pk not in found:
            found[pk] = PlayerFacts(academy_id, user_id, first_name)
        if guardian_id is not None:
            found[pk].guardian_ids.add(guardian_id)
    return found


def _read_lessons(ids: set[int]) -> dict[int, LessonFacts]:
    rows = IndividualBooking.objects.filter(pk__in=ids).values_list(
        "id", "academy_id", "starts_at", "coach_id"
    )
    return {pk: LessonFacts(academy_id, at, coach_id) for pk, academy_id, at, coach_id in rows}


def _read_attendances(ids: set[int]) -> dict[int, AttendanceFacts]:
    rows = Attendance.objects.filter(pk__in=ids).values_list(
        "id", "player_id", "session_id", "lesson_id"
    )
    return {pk: AttendanceFacts(player, session, lesson) for pk, player, session, lesson in rows}


def _rows(sql: str, ids: set[int]) -> list[tuple[Any, ...]]:
    """Plain SQL, as every booking's batch runs these: the ORM's compilation of such small
    queries cost several times their round trip (the contended-booking benchmark)."""
    if not ids:
        return []
    wanted = sorted(ids)
    with connection.cursor() as cursor:
        cursor.execute(sql.format(ids=", ".join(["%s"] * len(wanted))), wanted)
        return cursor.fetchall()


def _moment(value: datetime | str) -> datetime:
    """A timestamp from plain SQL: PostgreSQL gives a datetime, SQLite the text Django wrote."""
    if isinstance(value, datetime):
        return value
    parsed = parse_datetime(value)
    assert parsed is not None, value
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


# A session's title is its own or its type's; its coaches with their users, one row each.
_SESSIONS_SQL = f"""
    SELECT s.id, s.academy_id, s.starts_at, COALESCE(NULLIF(s.title, ''), t.name), s.status,
        a.coach_id, c.user_id
    FROM {GroupSession._meta.db_table} s
    JOIN {SessionType._meta.db_table} t ON t.id = s.session_type_id
    LEFT JOIN {StaffAssignment._meta.db_table} a ON a.session_id = s.id
    LEFT JOIN {Coach._meta.db_table} c ON c.id = a.coach_id
    WHERE s.id IN ({{ids}})
"""

_PLAYERS_SQL = f"""
    SELECT p.id, p.academy_id, p.user_id, p.first_name, g.guardian_id
    FROM {Player._meta.db_table} p
    LEFT JOIN {GuardianLink._meta.db_table} g ON g.player_id = p.id
    WHERE p.id IN ({{ids}})
"""


_academies: dict[int, tuple[float, Academy]] = {}


def academy(academy_id: int) -> Academy:
    """Academies barely change; their time zone only places a change on a day, so a minute-old
    copy is fine and saves a query per batch."""
    cached = _academies.get(academy_id)
    now = time.monotonic()
    if cached is None or now - cached[0] > 60:
        cached = (now, Academy.objects.get(pk=academy_id))
        _academies[academy_id] = cached
    return cached[1]


def _moments(texts: list[str]) -> list[datetime]:
    return [datetime.fromisoformat(text) for text in texts]


class _Router:
    def __init__(self, events: list[Event]) -> None:
        self.events = events
        self.facts = Facts(events)
        self.routing = Routing()
        self.changes: list[Change] = []
        # Coaches of sessions deleted in this batch: their assignments' events name them.
        self.assigned: dict[int, set[int]] = defaultdict(set)
        for event in events:
            if event.name == "assignment":
                self.assigned[event.data["session"]].add(event.data["coach"])

    def run(self) -> Routing:
        for event in self.events:
            getattr(self, f"_{event.name}")(event.data)
        self.routing.changes = list(merge_all(self.changes))
        return self.routing

    def _family_of(self, player_id: int, change: Change) -> PlayerFacts | None:
        player = self.facts.players.get(player_id)
        change.player_ids.add(player_id)
        if player is not None:
            change.guardian_ids |= player.guardian_ids
        return player

    def _session_change(self, session_id: int, academy_id: int | None = None) -> Change | None:
        facts = self.facts.sessions.get(session_id)
        academy_id = facts.academy_id if facts is not None else academy_id
        if academy_id is None:
            return None  # gone: the session's own event (it was deleted) describes it
        change = Change(academy_id, group_sessions=True)
        change.session_ids = {session_id}
        change.coach_ids = self.assigned[session_id].copy()
        if facts is not None:
            change.coach_ids |= set(facts.coach_users)
            change.add_times(academy(facts.academy_id).tz, facts.starts_at)
        return change

    # -- one method per event name (see bookings.live.capture) --

    def _reservation(self, data: dict) -> None:
        change = self._session_change(data["session"])
        if change is None:
            return
        change.occupancy_only = True
        change.activity = True
        player = self._family_of(data["player"], change)
        self.changes.append(change)
        session = self.facts.sessions[data["session"]]
        if player is not None and data["status"] != "deleted":
            self.routing.notes += notes.for_reservation(
                active=data["status"] == "reserved",
                actor_id=data["actor"],
                coach_user_ids=set(session.coach_users.values()),
                family=player.family,
                first_name=player.first_name,
                title=session.title,
                starts_at=session.starts_at,
                tz=academy(session.academy_id).tz,
                tell_coaches=not session.cancelled,
            )

    def _waitlist(self, data: dict) -> None:
        change = self._session_change(data["session"])
        if change is None:
            return
        change.occupancy_only = True  # the waiting and held counts, and the family's lists
        player = self._family_of(data["player"], change)
        for behind in self.facts.waiting.get(data["session"], ()):
            self._family_of(behind, change)
        self.changes.append(change)
        session = self.facts.sessions[data["session"]]
        if player is not None and data["status"] != "deleted":
            self.routing.notes += notes.for_waitlist(
                status=data["status"],
                actor_id=data["actor"],
                family=player.family,
                first_name=player.first_name,
                title=session.title,
                starts_at=session.starts_at,
                until=datetime.fromisoformat(data["until"]) if data["until"] else None,
                tz=academy(session.academy_id).tz,
            )

    def _sessions(self, data: dict) -> None:
        change = Change(
            data["academy"],
            group_sessions=True,
            coach_ids=set(data["coaches"]),
            session_ids=set(data["ids"]),
        )
        change.add_times(academy(data["academy"]).tz, *_moments(data["times"]))
        self.changes.append(change)

    def _session_cancelled(self, data: dict) -> None:
        change = self._session_change(data["session"])
        session = self.facts.sessions.get(data["session"])
        if change is None or session is None:
            return
        change.activity = change.occupancy_only = change.marks_only = True
        change.days = set()  # the session's own event re-renders where it showed
        self.changes.append(change)
        self.routing.notes += notes.for_session(
            actor_id=data["actor"],
            coach_user_ids=set(session.coach_users.values()),
            title=session.title,
            starts_at=session.starts_at,
            tz=academy(session.academy_id).tz,
        )

    def _attendance(self, data: dict) -> None:
        """A check-in mark: the card on the coach's day and the calendars (occupancy only: the
        session's card), the front desk, the family's lists, the coach's dashboard."""
        change = self._mark_change(data.get("session"), data.get("lesson"))
        if change is not None:
            change.attendance = change.activity = True
            self._family_of(data["player"], change)
            self.changes.append(change)

    def _feedback(self, data: dict) -> None:
        """A rating: the coach's dashboard, the front desk's feed, the family's lists."""
        attendance = self.facts.attendances.get(data["attendance"])
        if attendance is None:
            return  # gone with its attendance
        change = self._mark_change(attendance.session_id, attendance.lesson_id)
        if change is not None:
            change.days = set()  # no calendar shows ratings
            change.group_sessions = change.lessons = False
            change.feedback = change.activity = True
            self._family_of(attendance.player_id, change)
            self.changes.append(change)

    def _goal(self, data: dict) -> None:
        change = Change(
            data["academy"], coach_ids=set(data["coaches"]), occupancy_only=True, marks_only=True
        )
        change.goals = True
        change.goal_player_ids = set(data["players"])
        for player_id in data["players"]:
            player = self.facts.players.get(player_id)
            if player is not None:
                change.goal_guardian_ids |= player.guardian_ids
        self.changes.append(change)

    def _mark_change(self, session_id: int | None, lesson_id: int | None) -> Change | None:
        """What a mark or rating of a session's or a lesson's attendee touches: that session's
        card (occupancy only) or that lesson's day, and its coaches."""
        if session_id is not None:
            change = self._session_change(session_id)
        else:
            lesson = self.facts.lessons.get(lesson_id or 0)
            if lesson is None:
                return None
            change = Change(lesson.academy_id, lessons=True, coach_ids={lesson.coach_id})
            change.add_times(academy(lesson.academy_id).tz, lesson.starts_at)
        if change is not None:
            change.occupancy_only = change.marks_only = True
        return change

    def _session(self, data: dict) -> None:
        change = self._session_change(data["id"], data["academy"])
        assert change is not None
        change.add_times(academy(data["academy"]).tz, *_moments(data["times"]))
        self.changes.append(change)

    def _assignment(self, data: dict) -> None:
        change = self._session_change(data["session"])
        if change is not None:
            change.coach_ids.add(data["coach"])
            self.changes.append(change)

    def _lesson(self, data: dict) -> None:
        change = Change(data["academy"], lessons=True, coach_ids={data["coach"]}, activity=True)
        change.add_times(academy(data["academy"]).tz, *_moments(data["times"]))
        player = self._family_of(data["player"], change)
        self.changes.append(change)
        if player is not None and data["status"] != "deleted":
            self.routing.notes += _lesson_notes(data, player)

    def _availability(self, data: dict) -> None:
        academy_id = self.facts.coach_academy.get(data["coach"])
        if academy_id is not None:  # a weekly window: any day
            self.changes.append(Change(academy_id, days=None, coach_ids={data["coach"]}))

    def _time_off(self, data: dict) -> None:
        academy_id = self.facts.coach_academy.get(data["coach"])
        if academy_id is None:
            return
        start, end = _moments(data["times"])
        tz = academy(academy_id).tz
        day, last = start.astimezone(tz).date(), end.astimezone(tz).date()
        days: set[date] = set()
        while day <= last and len(days) < 400:
            days.add(day)
            day += timedelta(days=1)
        self.changes.append(Change(academy_id, days=days, coach_ids={data["coach"]}))

    def _player(self, data: dict) -> None:
        # A name shows on calendars too; renames are rare, so every watched calendar re-renders.
        change = Change(data["academy"], days=None, group_sessions=True, lessons=True)
        self._family_of(data["id"], change)
        self.changes.append(change)
        self.routing.recheck_user_ids.update(data["users"])

    def _guardian_link(self, data: dict) -> None:
        self.routing.recheck_user_ids.update(data["guardians"])
        for player_id in data["players"]:
            player = self.facts.players.get(player_id)
            if player is not None:
                change = Change(player.academy_id, player_ids={player_id})
                change.guardian_ids = set(data["guardians"])
                self.changes.append(change)

    def _coach(self, data: dict) -> None:
        self.changes.append(
            Change(
                data["academy"],
                days=None,
                coach_ids={data["id"]},
                group_sessions=True,
                lessons=True,
            )
        )
        self.routing.recheck_user_ids.update(data["users"])

    def _staff(self, data: dict) -> None:
        self.routing.recheck_user_ids.update(data["users"])

    def _account(self, data: dict) -> None:
        # Logged out, deactivated, a new password, admin rights changed or deleted.
        self.routing.recheck_user_ids.update(data["users"])

    def _announcement(self, data: dict) -> None:
        found = notes.for_announcement(data["id"])
        if found is None:
            return
        recipients, toasts = found
        self.routing.notes += toasts
        self.changes.append(Change(data["academy"], inbox_user_ids=recipients))

    def _inbox(self, data: dict) -> None:
        # One person's inbox, in no academy (0): only their own inbox fragments follow it.
        self.changes.append(Change(0, inbox_user_ids={data["user"]}))

    def _academy_row(self, data: dict) -> None:
        self.changes.append(Change(data["academy"], days=None, group_sessions=True, lessons=True))


def _lesson_notes(data: dict, player: PlayerFacts) -> list:
    lesson = (
        IndividualBooking.objects.select_related("academy", "coach", "session_type")
        .filter(pk=data["id"])
        .first()
    )
    if lesson is None:
        return []
    return notes.for_reservation(
        active=data["status"] == "booked",
        actor_id=data["actor"],
        coach_user_ids={lesson.coach.user_id},
        family=player.family,
        first_name=player.first_name,
        title=lesson.session_type.name,
        starts_at=lesson.starts_at,
        tz=lesson.academy.tz,
    )


@router
def route(events: list[Event]) -> Routing:
    return _Router(events).run()
