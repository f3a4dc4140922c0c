"""What the browser tests act on, picked from the demo data when their server is prepared.

The demo academy is generated relative to today, so the tests cannot name sessions or time slots
in advance. `prepare()` runs in the stack's set-up process (Django configured, demo loaded),
adds the few accounts the checklist needs, and hands every scenario sessions and lesson slots of
its own: taught by the demo coach, two to thirteen days ahead (bookable, cancellable online),
free for the players who will book them and used by no other scenario. Its result (JSON) is
`Stack.setup`.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

from django.contrib.auth import get_user_model
from django.utils import timezone

from bookings.models import GuardianLink, Player
from bookings.services import _player_busy, reservation_create
from scheduling.models import Academy, Coach, GroupSession, SessionType
from scheduling.slots import generate_slots

# Who books over plain HTTP in the fault tests (the front desk and the crowd).
HTTP_USERS = [
    "staff",
    "player",
    "oliver",
    "parent",
    "pat",
    "noah.clarke",
    "sofia.garcia",
    "priya.patel",
]


def prepare() -> dict[str, Any]:
    return _World().build()


class _World:
    def __init__(self) -> None:
        self.academy = Academy.objects.get(slug="courtside-demo")
        self.tz = self.academy.tz
        self.now = timezone.now()
        self.today = timezone.localdate(self.now, self.tz)
        self.sam = Coach.objects.select_related("academy").get(user__username="coach")
        self.used_sessions: set[int] = set()
        self.used_slots: set[datetime] = set()
        self.claimed: dict[int, list[tuple[datetime, datetime]]] = defaultdict(list)

    def build(self) -> dict[str, Any]:
        users = self.accounts()
        p = self.players
        out: dict[str, Any] = {"users": users, "players": {k: v.pk for k, v in p.items()}}
        out["sessions"] = self.sessions(HTTP_USERS)
        out["academy"] = self.academy.pk
        out["coach"] = self.sam.pk
        out["parent_user"] = get_user_model().objects.get(username="parent").pk

        # The fault tests' crowd: one day of its own, every session on it nearly full.
        out["crowd"] = self.crowd_day()

        out["group_player"] = self.session([p["oliver"]])
        out["lesson_player"] = self.slot([p["oliver"]])
        out["group_parent"] = self.session([p["isla"]])
        out["lesson_parent"] = self.slot([p["freddie"]])
        out["coach_cancel"] = self.session([p["oliver"]], book_as=users["oliver"])
        out["duplicate"] = self.session([p["oliver"]])
        out["switch_child"] = self.session([p["oliver"]])
        out["switch_hugo"] = self.session([p["hugo"]])
        out["switch_pat"] = self.session([p["pat"]])
        out["sync"] = self.same_day([p["oliver"], p["isla"]])
        out["race"] = self.slot([p["mia"], p["isla"]])
        out["offline"] = self.session([p["mia"], p["oliver"]], spots=3)
        out["indicator"] = self.session([p["oliver"]])
        out["redis_down"] = self.session([p["oliver"]])
        out["redis_back"] = self.session([p["mia"]])
        out["worker"] = self.session([p["oliver"]])
        return out

    # -- accounts ----------------------------------------------------------------------------

    def accounts(self) -> dict[str, int]:
        """A child with a login of their own (Oliver, so "player reserves" reaches a parent's
        page) and Pat, both a player and a parent: the role switcher has two roles to offer."""
        User = get_user_model()
        demo_hash = User.objects.get(username="parent").password  # every demo password is "demo"
        oliver = Player.objects.get(academy=self.academy, first_name="Oliver", last_name="Wright")
        oliver_user = User.objects.create(
            username="oliver", first_name="Oliver", last_name="Wright", password=demo_hash
        )
        oliver.user = oliver_user
        oliver.save()
        pat_user = User.objects.create(
            username="pat", first_name="Pat", last_name="Ryan", password=demo_hash
        )
        pat = Player.objects.create(
            academy=self.academy,
            user=pat_user,
            first_name="Pat",
            last_name="Ryan",
            birth_date=self.today - timedelta(days=40 * 365),
        )
        hugo = Player.objects.get(academy=self.academy, first_name="Hugo", last_name="Martin")
        GuardianLink.objects.create(guardian=pat_user, player=hugo, relationship="father")

        def child(first: str) -> Player:
            return Player.objects.get(academy=self.academy, first_name=first, last_name="Wright")

        self.players = {
            "oliver": oliver,
            "isla": child("Isla"),
            "freddie": child("Freddie"),
            "hugo": hugo,
            "pat": pat,
            "mia": Player.objects.get(academy=self.academy, user__username="player"),
        }
        return {"oliver": oliver_user.pk, "pat": pat_user.pk}

    def sessions(self, usernames: list[str]) -> dict[str, str]:
        """Signed-in sessions for the tests' plain HTTP users, as a login would leave them
        (hashing the password once per user is most of a login's cost)."""
        from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
        from django.contrib.sessions.backends.db import SessionStore

        keys = {}
        for user in get_user_model().objects.filter(username__in=usernames):
            session = SessionStore()
            session[SESSION_KEY] = str(user.pk)
            session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
            session[HASH_SESSION_KEY] = user.get_session_auth_hash()
            session.create()
            keys[user.username] = session.session_key
        return keys

    # -- sessions and slots ------------------------------------------------------------------

    def _days(self) -> list:
        return [self.today + timedelta(days=n) for n in range(2, 14)]

    def _free(self, players: list[Player], starts_at: datetime, ends_at: datetime) -> bool:
        for player in players:
            if _player_busy(player, starts_at, ends_at):
                return False
            if any(s < ends_at and starts_at < e for s, e in self.claimed[player.pk]):
                return False
        return True

    def _claim(self, players: list[Player], starts_at: datetime, ends_at: datetime) -> None:
        for player in players:
            self.claimed[player.pk].append((starts_at, ends_at))

    def _sam_sessions(self, day=None):  # type: ignore[no-untyped-def]
        sessions = (
            GroupSession.objects.filter(
                academy=self.academy,
                status=GroupSession.Status.SCHEDULED,
                assignments__coach=self.sam,
                starts_at__gte=self.now + timedelta(days=2),
                starts_at__lt=self.now + timedelta(days=13),
            )
            .select_related("session_type")
            .order_by("starts_at", "pk")
        )
        return [s for s in sessions if day is None or self._day_of(s.starts_at) == day]

    def _day_of(self, moment: datetime):  # type: ignore[no-untyped-def]
        return timezone.localtime(moment, self.tz).date()

    def session(
        self,
        players: list[Player],
        *,
        spots: int = 2,
        day=None,  # type: ignore[no-untyped-def]
        book_as: int | None = None,
    ) -> dict[str, Any]:
        for s in self._sam_sessions(day):
            if s.pk in self.used_sessions or s.capacity - s.reserved_count < spots:
                continue
            if s.reservations.filter(player__in=players, status="reserved").exists():
                continue
            if not self._free(players, s.starts_at, s.ends_at):
                continue
            self.used_sessions.add(s.pk)
            self._claim(players, s.starts_at, s.ends_at)
            if book_as is not None:
                actor = get_user_model().objects.get(pk=book_as)
                reservation_create(player=players[0], session=s, actor=actor)
                s.refresh_from_db()
            return self._describe_session(s)
        raise RuntimeError(f"no group session left for {players} on {day or 'any day'}")

    def _describe_session(self, s: GroupSession) -> dict[str, Any]:
        local = timezone.localtime(s.starts_at, self.tz)
        return {
            "id": s.pk,
            "title": s.display_title,
            "iso": local.isoformat(),
            "date": local.date().isoformat(),
            "ymd": local.strftime("%Y%m%d"),
            "hhmm": local.strftime("%H:%M"),
            "capacity": s.capacity,
            "reserved": s.reserved_count,
        }

    def _lesson_types(self) -> list[SessionType]:
        return list(
            SessionType.objects.filter(
                academy=self.academy,
                kind=SessionType.Kind.INDIVIDUAL,
                availability__coach=self.sam,
            ).distinct()
        )

    def slot(self, players: list[Player], *, day=None) -> dict[str, Any]:  # type: ignore[no-untyped-def]
        for candidate_day in [day] if day else self._days():
            for session_type in self._lesson_types():
                slots = generate_slots(coach=self.sam, session_type=session_type, day=candidate_day)
                for slot in slots:
                    if not slot.is_free or slot.starts_at in self.used_slots:
                        continue
                    if any(
                        u < slot.ends_at and slot.starts_at < u + timedelta(hours=1)
                        for u in self.used_slots
                    ):
                        continue
                    if not self._free(players, slot.starts_at, slot.ends_at):
                        continue
                    self.used_slots.add(slot.starts_at)
                    self._claim(players, slot.starts_at, slot.ends_at)
                    return self._describe_slot(slot, session_type)
        raise RuntimeError(f"no lesson slot left for {players} on {day or 'any day'}")

    def _describe_slot(self, slot, session_type: SessionType) -> dict[str, Any]:  # type: ignore[no-untyped-def]
        local = timezone.localtime(slot.starts_at, self.tz)
        iso = local.isoformat()
        return {
            "value": f"{self.sam.pk}|{session_type.pk}|{iso}",
            "utc": slot.starts_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S"),
            "iso": iso,
            "date": local.date().isoformat(),
            "ymd": local.strftime("%Y%m%d"),
            "hhmm": local.strftime("%H:%M"),
            "type": session_type.pk,
            "type_name": session_type.name,
            "query": f"date={local.date().isoformat()}&type={session_type.pk}&coach={self.sam.pk}",
        }

    def same_day(self, players: list[Player]) -> dict[str, Any]:
        """A group session and one lesson slot per player, all on one day."""
        for day in self._days():
            if (
                not any(s.pk not in self.used_sessions for s in self._sam_sessions(day))
                or not self._lesson_types()
            ):
                continue
            try:
                session = self.session(players, day=day)
                slots = [self.slot([player], day=day) for player in players]
            except RuntimeError:
                continue
            if len({s["type"] for s in slots}) == 1:
                return {"date": day.isoformat(), "session": session, "slots": slots}
        raise RuntimeError("no day with a free session and lesson slots for the sync test")

    def crowd_day(self) -> dict[str, Any]:
        """A weekday with free lesson slots and several sessions, capacity cut to two spots
        left: concurrent bookings fight over them."""
        for day in self._days():
            if day.weekday() >= 5:
                continue
            lesson_slots = []
            for session_type in self._lesson_types():
                lesson_slots += [
                    (slot, session_type)
                    for slot in generate_slots(coach=self.sam, session_type=session_type, day=day)
                    if slot.is_free
                ]
            start, end = (
                datetime.combine(day, datetime.min.time(), tzinfo=self.tz),
                datetime.combine(day + timedelta(days=1), datetime.min.time(), tzinfo=self.tz),
            )
            sessions = list(
                GroupSession.objects.filter(
                    academy=self.academy,
                    status=GroupSession.Status.SCHEDULED,
                    starts_at__gte=start,
                    starts_at__lt=end,
                ).order_by("starts_at", "pk")
            )
            if len(lesson_slots) < 2 or len(sessions) < 3:
                continue
            for s in sessions:
                # update(): no change capture, but no page follows this new academy yet.
                GroupSession.objects.filter(pk=s.pk).update(capacity=s.reserved_count + 2)
                s.refresh_from_db()
                self.used_sessions.add(s.pk)
            for slot, _ in lesson_slots:
                self.used_slots.add(slot.starts_at)
            return {
                "date": day.isoformat(),
                "sessions": [self._describe_session(s) for s in sessions],
                "slots": [self._describe_slot(slot, t) for slot, t in lesson_slots],
            }
        raise RuntimeError("no weekday for the crowd test")
