"""Live fragments: the named pieces of pages that change when bookings change.

A fragment key (for example `slots:c3:t2:2026-11-24`) names one fragment and, at the same
time, its audience: the stream that carries its updates. Each kind of fragment knows how to
parse its key, who may read it (by the access rules in bookings.access) and how to render it
from the key alone, never from a request, so the server renders it once per change for every
viewer of that stream. Pages render their fragments through here too, so the HTML a page loads
with and the HTML a push brings are the same template.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.html import format_html
from django.utils.safestring import SafeString, mark_safe

from bookings import selectors
from bookings.access import Principal
from bookings.models import Player
from realtime.changes import Change
from scheduling.models import Academy, Coach, SessionType
from scheduling.slots import generate_slots

MAX_DAYS_AWAY = 400  # dates further than this from today are refused, not rendered

Params = dict[str, Any]


@dataclass(frozen=True)
class FragmentKind:
    name: str
    pattern: re.Pattern[str]
    template: str
    load: Callable[[re.Match[str]], Params | None]  # key parts -> params (None: no such thing)
    allowed: Callable[[Principal, Params], bool]
    context: Callable[[Params], dict[str, Any]]
    affected: Callable[[re.Match[str], Change], bool]  # from the key's text alone, no queries
    # Optional: the out-of-band pieces a change touched, or None to re-render it whole.
    update: Callable[[Params, Change], str | None] | None = None


KINDS: dict[str, FragmentKind] = {}


def kind(name: str, pattern: str, template: str):  # type: ignore[no-untyped-def]
    """Register a fragment kind from a class with load/allowed/context static methods."""

    def register(cls):  # type: ignore[no-untyped-def]
        KINDS[name] = FragmentKind(
            name,
            re.compile(pattern),
            template,
            cls.load,
            cls.allowed,
            cls.context,
            cls.affected,
            getattr(cls, "update", None),
        )
        return cls

    return register


def parse_date(text: str) -> date | None:
    try:
        day = date.fromisoformat(text)
    except ValueError:
        return None
    if abs((day - timezone.localdate()).days) > MAX_DAYS_AWAY:
        return None
    return day


# -- one publish pass ------------------------------------------------------------------------------

_pass_cache: ContextVar[dict[Any, Any] | None] = ContextVar("courtside_pass_cache", default=None)


@contextmanager
def one_pass() -> Iterator[None]:
    """Within one publisher pass, the streams a change affects share reads and renders: every
    coach's week calendar shows another coach's session the same way, so its card is read and
    rendered once, not once per calendar. The cache lives for one pass (tens of milliseconds,
    after the change committed), so nothing outlives the data it was read from."""
    token = _pass_cache.set({})
    try:
        yield
    finally:
        _pass_cache.reset(token)


def _once_per_pass(key: Any, compute: Callable[[], Any]) -> Any:
    cache = _pass_cache.get()
    if cache is None:
        return compute()
    if key not in cache:
        cache[key] = compute()
    return cache[key]


def _academy(academy_id: int) -> Academy | None:
    return _once_per_pass(
        ("academy", academy_id), lambda: Academy.objects.filter(pk=academy_id).first()
    )


def _occupancy_cards(
    template: str,
    params: Params,
    change: Change,
    start: datetime,
    end: datetime,
    *,
    coach_id: int | None = None,
    all_names: bool = False,
    names_for_coach_ids: frozenset[int] | None = None,
) -> str | None:
    """For a change of occupancy only (a reservation made or cancelled): the touched sessions'
    cards alone, out of band, so a push is one card of ~1 KB rather than the whole grid or week
    (less to render, to send to every viewer and to parse). None for any other change."""
    if not (change.occupancy_only and change.session_ids):
        return None
    academy_id = _academy_of(params).pk
    ids = frozenset(change.session_ids)
    touched = _once_per_pass(
        ("touched", academy_id, ids),
        lambda: selectors.sessions_between(
            academy_id, None, None, include_lessons=False, session_ids=ids, all_names=True
        ),
    )
    shown = selectors.for_viewer(
        [
            s
            for s in touched
            if s.starts_at < end and s.ends_at > start and coach_id in (None, *s.coach_ids)
        ],
        all_names=all_names,
        names_for_coach_ids=names_for_coach_ids,
    )
    coach = params.get("coach")
    base = {**params, "now": timezone.now(), "can_cancel_sessions": True, "oob": True}

    def card(s: selectors.SessionView) -> str:
        # What a card's HTML depends on besides the session: names shown, and whether this
        # viewer may cancel the whole session (staff, or the session's own coach).
        own = coach is None or coach.pk in s.coach_ids
        return _once_per_pass(
            ("card", template, s.pk, bool(s.attendees), own),
            lambda: render_to_string(template, {**base, "s": s}),
        )

    return "".join(card(s) for s in shown)


def _touches(change: Change, day_text: str, span: int = 1) -> bool:
    try:
        day = date.fromisoformat(day_text)
    except ValueError:
        return False
    return change.touches_day(day, span)


# Which of a change's streams is rendered first: the widest audience (every member of the
# academy watches its day grid and lesson slots; its staff the week calendar; one coach their own
# calendar; one family its lists). Rendering is the slow part of a push, one stream after
# another, so this order decides who waits. A stream's number orders only its own messages, so
# the order across streams is free.
PUSH_ORDER = {"day": 0, "slots": 1, "calendar": 2, "coachday": 3, "reservations": 4, "schedule": 4}


def push_order(key: str) -> tuple[int, str]:
    return PUSH_ORDER.get(key.split(":", 1)[0], len(PUSH_ORDER)), key


def affected_keys(keys: list[str], change: Change) -> list[str]:
    """The keys among these (being watched) whose fragment this change may alter."""
    hit = []
    for key in keys:
        fragment_kind = KINDS.get(key.split(":", 1)[0])
        match = fragment_kind.pattern.fullmatch(key) if fragment_kind else None
        if (
            match is not None
            and fragment_kind is not None
            and fragment_kind.affected(match, change)
        ):
            hit.append(key)
    return hit


# -- player and family lists ---------------------------------------------------------------------


def _load_owner(match: re.Match[str]) -> Params | None:
    """`p12` is one player; `f7` is every child of the parent with user id 7."""
    scope, ident = match["scope"], int(match["id"])
    if scope == "p":
        player = Player.objects.select_related("academy").filter(pk=ident).first()
        return None if player is None else {"player": player, "players": [player]}
    return {"guardian_id": ident, "players": selectors.family_players(ident)}


def _owner_allowed(p: Principal, params: Params) -> bool:
    if "player" in params:
        player = params["player"]
        return p.acts_for(player.pk) or p.manages(player.academy_id)
    return p.user_id == params["guardian_id"]


def personal_keys(change: Change) -> list[str]:
    """The player and family lists a change touches, by name (the publisher looks these up
    rather than scanning every viewer's; see realtime.store.PERSONAL_PREFIXES)."""
    owners = [f"p{pid}" for pid in sorted(change.player_ids)]
    owners += [f"f{gid}" for gid in sorted(change.guardian_ids)]
    return [f"{name}:{owner}" for name in ("schedule", "reservations") for owner in owners]


def _owner_affected(match: re.Match[str], change: Change) -> bool:
    return match[0] in personal_keys(change)  # one rule, whether a key is scanned or named


def _owner_context(params: Params, *, upcoming_only: bool) -> dict[str, Any]:
    players = params["players"]
    return {
        "entries": selectors.schedule_entries(
            [pl.pk for pl in players], upcoming_only=upcoming_only
        ),
        "show_player": "guardian_id" in params,
    }


@kind("schedule", r"schedule:(?P<scope>[pf])(?P<id>\d{1,12})", "fragments/lists.html#schedule")
class Schedule:
    load = staticmethod(_load_owner)
    allowed = staticmethod(_owner_allowed)
    affected = staticmethod(_owner_affected)

    @staticmethod
    def context(params: Params) -> dict[str, Any]:
        return _owner_context(params, upcoming_only=False)


@kind(
    "reservations",
    r"reservations:(?P<scope>[pf])(?P<id>\d{1,12})",
    "fragments/lists.html#reservations",
)
class Reservations:
    load = staticmethod(_load_owner)
    allowed = staticmethod(_owner_allowed)
    affected = staticmethod(_owner_affected)

    @staticmethod
    def context(params: Params) -> dict[str, Any]:
        return _owner_context(params, upcoming_only=True)


# -- shared academy views: slots and the day's group sessions ------------------------------------


@kind(
    "slots",
    r"slots:c(?P<coach>\d{1,12}):t(?P<type>\d{1,12}):(?P<day>[\d-]{10})",
    "fragments/slots.html#slots",
)
class Slots:
    @staticmethod
    def load(match: re.Match[str]) -> Params | None:
        day = parse_date(match["day"])
        coach = Coach.objects.select_related("academy").filter(pk=int(match["coach"])).first()
        session_type = SessionType.objects.filter(pk=int(match["type"])).first()
        if day is None or coach is None or session_type is None:
            return None
        if session_type.academy_id != coach.academy_id:
            return None
        return {"coach": coach, "session_type": session_type, "day": day}

    @staticmethod
    def allowed(p: Principal, params: Params) -> bool:
        return p.is_member(params["coach"].academy_id)

    @staticmethod
    def affected(match: re.Match[str], change: Change) -> bool:
        # A coach's group session blocks their lesson slots however full it is, so a reservation
        # made or cancelled (occupancy only) leaves the slots as they were.
        return (
            not change.occupancy_only
            and int(match["coach"]) in change.coach_ids
            and _touches(change, match["day"])
        )

    @staticmethod
    def context(params: Params) -> dict[str, Any]:
        return {
            **params,
            "slots": generate_slots(
                coach=params["coach"], session_type=params["session_type"], day=params["day"]
            ),
        }


@kind("day", r"day:a(?P<academy>\d{1,12}):(?P<day>[\d-]{10})", "fragments/slots.html#day")
class DaySessions:
    @staticmethod
    def load(match: re.Match[str]) -> Params | None:
        day = parse_date(match["day"])
        academy = _academy(int(match["academy"]))
        if day is None or academy is None:
            return None
        return {"academy": academy, "day": day}

    @staticmethod
    def allowed(p: Principal, params: Params) -> bool:
        return p.is_member(params["academy"].pk)

    @staticmethod
    def affected(match: re.Match[str], change: Change) -> bool:
        return (
            change.group_sessions
            and int(match["academy"]) == change.academy_id
            and _touches(change, match["day"])
        )

    @staticmethod
    def context(params: Params) -> dict[str, Any]:
        academy, day = params["academy"], params["day"]
        start, end = selectors.day_range(academy, day)
        return {
            **params,
            "now": timezone.now(),
            "sessions": selectors.sessions_between(academy.pk, start, end, include_lessons=False),
        }

    @staticmethod
    def update(params: Params, change: Change) -> str | None:
        start, end = selectors.day_range(params["academy"], params["day"])
        return _occupancy_cards("fragments/slots.html#session", params, change, start, end)


# -- coach and staff calendars ---------------------------------------------------------------------


@kind(
    "coachday",
    r"coachday:c(?P<coach>\d{1,12}):(?P<day>[\d-]{10})",
    "fragments/calendar.html#coachday",
)
class CoachDay:
    @staticmethod
    def load(match: re.Match[str]) -> Params | None:
        day = parse_date(match["day"])
        coach = Coach.objects.select_related("academy").filter(pk=int(match["coach"])).first()
        if day is None or coach is None:
            return None
        return {"coach": coach, "day": day}

    @staticmethod
    def allowed(p: Principal, params: Params) -> bool:
        coach = params["coach"]
        return coach.pk in p.coach_academy_by_id or p.manages(coach.academy_id)

    @staticmethod
    def affected(match: re.Match[str], change: Change) -> bool:
        return int(match["coach"]) in change.coach_ids and _touches(change, match["day"])

    @staticmethod
    def context(params: Params) -> dict[str, Any]:
        coach, day = params["coach"], params["day"]
        start, end = selectors.day_range(coach.academy, day)
        return {
            **params,
            "now": timezone.now(),
            "can_cancel_sessions": True,
            "sessions": selectors.sessions_between(
                coach.academy_id, start, end, coach_id=coach.pk, all_names=True
            ),
        }

    @staticmethod
    def update(params: Params, change: Change) -> str | None:
        coach = params["coach"]
        start, end = selectors.day_range(coach.academy, params["day"])
        return _occupancy_cards(
            "fragments/calendar.html#card",
            params,
            change,
            start,
            end,
            coach_id=coach.pk,
            all_names=True,
        )


@kind(
    "calendar",
    r"calendar:a(?P<academy>\d{1,12}):(?P<day>[\d-]{10}):(?P<days>[17])d:(?P<who>staff|c\d{1,12})",
    "fragments/calendar.html#calendar",
)
class Calendar:
    """A day or week of every session. Staff see every attendee; a coach sees the attendees of
    their own sessions and only the occupancy of the others (the access rules)."""

    @staticmethod
    def load(match: re.Match[str]) -> Params | None:
        day = parse_date(match["day"])
        academy = _academy(int(match["academy"]))
        if day is None or academy is None:
            return None
        who = match["who"]
        coach = None
        if who != "staff":
            coach = Coach.objects.filter(pk=int(who[1:]), academy=academy).first()
            if coach is None:
                return None
        days = int(match["days"])
        if days == 7 and day.weekday() != 0:
            return None  # weeks start on Monday, so every viewer of a week shares one stream
        return {"academy": academy, "day": day, "days": days, "coach": coach}

    @staticmethod
    def allowed(p: Principal, params: Params) -> bool:
        academy_id = params["academy"].pk
        if params["coach"] is None:
            return p.manages(academy_id)
        return params["coach"].pk in p.coach_academy_by_id or p.manages(academy_id)

    @staticmethod
    def affected(match: re.Match[str], change: Change) -> bool:
        return (
            (change.group_sessions or change.lessons)
            and int(match["academy"]) == change.academy_id
            and _touches(change, match["day"], int(match["days"]))
        )

    @staticmethod
    def context(params: Params) -> dict[str, Any]:
        return Calendar._context(params)

    @staticmethod
    def _context(params: Params, *, days_only: set[date] | None = None) -> dict[str, Any]:
        academy, first, days, coach = (params[k] for k in ("academy", "day", "days", "coach"))
        start, end = selectors.day_range(academy, first, days)
        sessions = selectors.sessions_between(
            academy.pk,
            start,
            end,
            all_names=coach is None,
            names_for_coach_ids=frozenset([coach.pk]) if coach else None,
        )
        tz = academy.tz
        columns = []
        for offset in range(days):
            day = first + timedelta(days=offset)
            if days_only is None or day in days_only:
                columns.append(
                    (day, [s for s in sessions if s.starts_at.astimezone(tz).date() == day])
                )
        # Both audiences may cancel: staff any session, a coach their own (checked in the template
        # per session, and again by the service).
        return {**params, "columns": columns, "now": timezone.now(), "can_cancel_sessions": True}

    @staticmethod
    def update(params: Params, change: Change) -> str | None:
        """Only what a change touched, so a push costs one card, not a week of 1,000 sessions:
        the cards of sessions whose occupancy changed, else the touched days' columns."""
        academy, first, days, coach = (params[k] for k in ("academy", "day", "days", "coach"))
        start, end = selectors.day_range(academy, first, days)
        cards = _occupancy_cards(
            "fragments/calendar.html#card",
            params,
            change,
            start,
            end,
            all_names=coach is None,
            names_for_coach_ids=frozenset([coach.pk]) if coach else None,
        )
        if cards is not None:
            return cards
        if change.days is None:
            return None
        touched = {d for d in change.days if 0 <= (d - first).days < days}
        if len(touched) == days:
            return None
        context = {**Calendar._context(params, days_only=touched), "oob": True}
        return "".join(
            render_to_string(
                "fragments/calendar.html#column", {**context, "day": day, "items": items}
            )
            for day, items in context["columns"]
        )


# -- rendering -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Fragment:
    key: str
    kind: FragmentKind
    params: Params

    @property
    def dom_id(self) -> str:
        return dom_id(self.key)

    def allowed(self, principal: Principal) -> bool:
        return principal.is_authenticated and self.kind.allowed(principal, self.params)

    def render(self, *, oob: bool = False) -> SafeString:
        # Times show in the academy's zone whoever renders (a request or a push).
        with timezone.override(_academy_of(self.params).tz):
            inner = render_to_string(self.kind.template, self.kind.context(self.params))
        return format_html(
            '<div id="{}" class="live-fragment" data-live="{}"{}>{}</div>',
            self.dom_id,
            self.key,
            mark_safe(' hx-swap-oob="outerHTML"') if oob else "",
            mark_safe(inner),
        )


def render_change(fragment: Fragment, change: Change) -> str:
    """What to push for a change: the touched pieces if the kind can tell, else all of it."""
    if fragment.kind.update is not None:
        with timezone.override(_academy_of(fragment.params).tz):
            pieces = fragment.kind.update(fragment.params, change)
        if pieces is not None:
            return pieces
    return fragment.render(oob=True)


def _academy_of(params: Params) -> Academy:
    for name in ("academy", "coach", "player"):
        if name in params and params[name] is not None:
            value = params[name]
            return value if isinstance(value, Academy) else value.academy
    players = params.get("players") or []
    return players[0].academy if players else Academy(time_zone="UTC")


def dom_id(key: str) -> str:
    return "live-" + key.replace(":", "-")


def resolve(key: str) -> Fragment | None:
    """The fragment a key names, or None for a malformed key or one naming nothing."""
    if not isinstance(key, str) or len(key) > 100:
        return None
    name = key.split(":", 1)[0]
    fragment_kind = KINDS.get(name)
    if fragment_kind is None:
        return None
    match = fragment_kind.pattern.fullmatch(key)
    if match is None:
        return None
    params = fragment_kind.load(match)
    return None if params is None else Fragment(key, fragment_kind, params)


def resolve_allowed(keys: list[str], principal: Principal) -> list[Fragment]:
    """The fragments among keys that this principal may read (the rest are dropped)."""
    found = []
    for key in dict.fromkeys(keys):
        fragment = resolve(key)
        if fragment is not None and fragment.allowed(principal):
            found.append(fragment)
    return found
