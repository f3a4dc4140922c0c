"""What a save or delete of each published model says: an event built from the row alone.

Every writer is heard, the admin and one-off scripts included, because these hang off model
signals (realtime.capture). Who is affected is decided after COMMIT by bookings.live.routing,
so nothing here reads the database: a booking's transaction holds its locks no longer for being
live. Writers that bypass signals say what they did with realtime.publisher.send_on_commit
(see `announced` and `inbox_changed`).

Reservations and lessons are saved only by bookings.services, once per change of status (made,
reactivated, cancelled), so a saved status is what just happened to them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.signals import user_logged_out

from bookings.models import (
    Announcement,
    Attendance,
    Feedback,
    Goal,
    GuardianLink,
    IndividualBooking,
    Player,
    SessionReservation,
    WaitlistEntry,
)
from realtime.capture import Saved, publish_model
from realtime.events import Event
from realtime.publisher import send_on_commit
from scheduling.models import (
    Coach,
    CoachAvailability,
    CoachTimeOff,
    Court,
    GroupSession,
    SessionType,
    StaffAssignment,
    StaffMember,
)


def _times(*moments: datetime | None) -> list[str]:
    return [moment.isoformat() for moment in moments if moment is not None]


def _reservation(r: SessionReservation, saved: Saved) -> Event:
    active = r.status == SessionReservation.Status.RESERVED
    return Event(
        "reservation",
        {
            "id": r.pk,
            "session": r.session_id,
            "player": r.player_id,
            "status": "deleted" if saved.deleted else r.status,
            "actor": r.reserved_by_id if active else r.cancelled_by_id,
        },
    )


def session_cancelled(session_id: int, actor_id: int | None) -> Event:
    """A whole group session was called off, by whom (said by the service: the session's own
    save does not know who; its coaches hear it once, not once per reservation)."""
    return Event("session_cancelled", {"session": session_id, "actor": actor_id})


def _attendance(a: Attendance, saved: Saved) -> Event:
    where = {"session": a.session_id} if a.session_id else {"lesson": a.lesson_id}
    return Event("attendance", {"id": a.pk, "player": a.player_id, "status": a.status, **where})


def _feedback(f: Feedback, saved: Saved) -> Event:
    return Event("feedback", {"attendance": f.attendance_id})


def _goal(g: Goal, saved: Saved) -> Event:
    # A goal moved to another coach or player (in the admin) leaves the old ones' pages too.
    coaches = {g.coach_id, saved.old.get("coach_id")} - {None}
    players = {g.player_id, saved.old.get("player_id")} - {None}
    return Event(
        "goal",
        {"academy": g.academy_id, "coaches": sorted(coaches), "players": sorted(players)},
    )


def sessions_added(academy_id: int, sessions: list[GroupSession], coach_ids: list[int]) -> Event:
    """Sessions made in one go (a series, written with bulk_create, which sends no signal):
    one event for the lot, so open pages hear of a term's timetable as one change."""
    return Event(
        "sessions",
        {
            "academy": academy_id,
            "ids": [s.pk for s in sessions],
            "times": _times(*(s.starts_at for s in sessions)),
            "coaches": sorted(coach_ids),
        },
    )


def _waitlist(e: WaitlistEntry, saved: Saved) -> Event:
    """A waiting list entry joined, offered a spot, promoted, left, lapsed or closed."""
    return Event(
        "waitlist",
        {
            "id": e.pk,
            "session": e.session_id,
            "player": e.player_id,
            "status": "deleted" if saved.deleted else e.status,
            "actor": e.joined_by_id if e.status == WaitlistEntry.Status.WAITING else e.ended_by_id,
            "until": e.offered_until.isoformat() if e.offered_until else None,
        },
    )


def _lesson(b: IndividualBooking, saved: Saved) -> Event:
    active = b.status == IndividualBooking.Status.BOOKED
    return Event(
        "lesson",
        {
            "id": b.pk,
            "academy": b.academy_id,
            "coach": b.coach_id,
            "player": b.player_id,
            "status": "deleted" if saved.deleted else b.status,
            "actor": b.booked_by_id if active else b.cancelled_by_id,
            "times": _times(b.starts_at, saved.old.get("starts_at")),
        },
    )


def _session(s: GroupSession, saved: Saved) -> Event:
    return Event(
        "session",
        {
            "id": s.pk,
            "academy": s.academy_id,
            "times": _times(s.starts_at, saved.old.get("starts_at")),
        },
    )


def _assignment(a: StaffAssignment, saved: Saved) -> Event:
    return Event("assignment", {"session": a.session_id, "coach": a.coach_id})


def _availability(row: CoachAvailability, saved: Saved) -> Event:
    return Event("availability", {"coach": row.coach_id})


def _time_off(row: CoachTimeOff, saved: Saved) -> Event:
    return Event("time_off", {"coach": row.coach_id, "times": _times(row.starts_at, row.ends_at)})


def _player(p: Player, saved: Saved) -> Event:
    users = {p.user_id, saved.old.get("user_id")} - {None}
    return Event("player", {"id": p.pk, "academy": p.academy_id, "users": sorted(users)})


def _guardian_link(link: GuardianLink, saved: Saved) -> Event:
    # A link moved to another parent or child changes what the old ones may read too.
    guardians = {link.guardian_id, saved.old.get("guardian_id")} - {None}
    players = {link.player_id, saved.old.get("player_id")} - {None}
    return Event("guardian_link", {"players": sorted(players), "guardians": sorted(guardians)})


def _coach(c: Coach, saved: Saved) -> Event:
    users = {c.user_id, saved.old.get("user_id")} - {None}
    return Event("coach", {"id": c.pk, "academy": c.academy_id, "users": sorted(users)})


def _staff(m: StaffMember, saved: Saved) -> Event:
    users = {m.user_id, saved.old.get("user_id")} - {None}
    return Event("staff", {"academy": m.academy_id, "users": sorted(users)})


# What about a user, changed, may end their live access: their sockets re-check their session and
# access (realtime.consumers.LiveConsumer.access_changed). A new password ends their other
# sessions (Django's session hash), so it is one of them.
ACCOUNT_FIELDS = ("is_active", "password", "is_superuser")


def _account(user: Any, saved: Saved) -> Event | None:
    changed = any(saved.old[name] != getattr(user, name) for name in saved.old)
    if saved.deleted or changed:
        return account_changed(user.pk)
    return None  # created (no socket yet), or only a last login or a name


def account_changed(user_id: int) -> Event:
    return Event("account", {"users": [user_id]})


def _logged_out(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    """A logout (POST /logout/) ends that session: its other tabs' sockets close too."""
    if user is not None and user.pk is not None:
        send_on_commit(account_changed(user.pk))


def announced(announcement: Announcement) -> None:
    """An announcement and its inbox copies were written (bulk_create: no signals)."""
    send_on_commit(
        Event("announcement", {"id": announcement.pk, "academy": announcement.academy_id})
    )


def inbox_changed(user_id: int) -> None:
    """Someone's inbox changed without a signal (marked read with QuerySet.update)."""
    send_on_commit(Event("inbox", {"user": user_id}))


def _academy_row(row: Court | SessionType, saved: Saved) -> Event:
    return Event("academy_row", {"academy": row.academy_id})


PUBLISHED: list[tuple[Any, Any, tuple[str, ...]]] = [
    (SessionReservation, _reservation, ()),
    (WaitlistEntry, _waitlist, ()),
    (IndividualBooking, _lesson, ("starts_at",)),
    (GroupSession, _session, ("starts_at",)),
    (StaffAssignment, _assignment, ()),
    (CoachAvailability, _availability, ()),
    (CoachTimeOff, _time_off, ()),
    (Player, _player, ("user_id",)),
    (GuardianLink, _guardian_link, ("guardian_id", "player_id")),
    (Coach, _coach, ("user_id",)),
    (StaffMember, _staff, ("user_id",)),
    (Court, _academy_row, ()),
    (SessionType, _academy_row, ()),
    (Attendance, _attendance, ()),
    (Feedback, _feedback, ()),
    (Goal, _goal, ("coach_id", "player_id")),
    (get_user_model(), _account, ACCOUNT_FIELDS),
]


def connect() -> None:
    for model, describe, remember in PUBLISHED:
        publish_model(model, describe, remember=remember)
    user_logged_out.connect(_logged_out, dispatch_uid="courtside-live-logout")
