"""Reserve, book and cancel; check in and move a goal on: parse, call a service, answer.

HTMX requests get out-of-band fragments back (the page's live fragments re-rendered, the
message next to what was clicked, a status line); plain form posts get a redirect with a
message (post/redirect/get), so every flow works without JavaScript.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import datetime
from functools import partial

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST

from bookings import services
from bookings.access import Action, can, principal_for
from bookings.dates import MAX_DAYS_AWAY
from bookings.errors import MESSAGES, BookingError
from bookings.models import Goal, IndividualBooking, Player, SessionReservation, WaitlistEntry
from bookings.selectors import ordinal
from bookings.services.waitlist import position
from bookings.views.act_form import nonce_oob
from bookings.views.requests import SignedInRequest
from config.security import local_path
from realtime.pages import refreshed
from scheduling.models import Academy, Coach, GroupSession, SessionType
from scheduling.times import day_and_time

STATUS_FOR_CODE = {"not_allowed": 403, "wrong_academy": 403}


class BadInput(Exception):
    """A malformed or missing form field: answered with 400 and a plain message."""


def _int(request: HttpRequest, name: str) -> int:
    raw = request.POST.get(name, "")
    # isascii: "²" is a digit to str.isdigit() but not to int()
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 12:
        raise BadInput(f"Missing or malformed {name}.")
    return int(raw)


def _idempotency_key(request: HttpRequest, *parts: object) -> str | None:
    """One key per (form render, action, target): a double click repeats, a new click doesn't."""
    nonce = request.POST.get("nonce", "")
    if not nonce:
        return None
    return hashlib.sha256("|".join([nonce, *map(str, parts)]).encode()).hexdigest()[:64]


def _next_url(request: HttpRequest) -> str:
    """The page to go back to: a local path only (`next=foo` would be taken for a URL name)."""
    return local_path(request.POST.get("next"), reverse("home"))


def _answer(
    request: SignedInRequest, *, ok: bool, message: str, near: str, status: int = 200
) -> HttpResponse:
    if not request.htmx:
        (messages.success if ok else messages.error)(request, message)
        return HttpResponseRedirect(_next_url(request))
    body = (
        refreshed(request, request.POST.get("live", ""))
        + render_to_string("includes/answer.html", {"ok": ok, "message": message, "near": near})
        + (nonce_oob() if ok else "")
    )
    return HttpResponse(body, status=status)


def _run(request: SignedInRequest, near: str, action: Callable[[], str]) -> HttpResponse:
    try:
        message = action()
    except BookingError as error:
        status = STATUS_FOR_CODE.get(error.code, 409)
        return _answer(request, ok=False, message=_explain(error), near=near, status=status)
    return _answer(request, ok=True, message=message, near=near)


def _explain(error: BookingError) -> str:
    existing = error.existing
    if error.code == "already_reserved" and isinstance(existing, SessionReservation):
        made = _when(existing.created_at, existing.session.academy)
        name = existing.player.full_name
        return f"{name} is already booked on this session (reserved {made}); it is in the list."
    return error.message


def _when(moment: datetime, academy: Academy) -> str:
    return day_and_time(moment.astimezone(academy.tz))


def _refuse(request: SignedInRequest, near: str) -> HttpResponse:
    """What the service would answer to one who may not: before asking them to confirm."""
    return _answer(request, ok=False, message=MESSAGES["not_allowed"], near=near, status=403)


def _bad_input(request: SignedInRequest, error: BadInput) -> HttpResponse:
    return _answer(request, ok=False, message=str(error), near="", status=400)


@require_POST
@login_required
def reserve(request: SignedInRequest) -> HttpResponse:
    try:
        session = get_object_or_404(
            GroupSession.objects.select_related("academy", "session_type"),
            pk=_int(request, "session"),
        )
        player = get_object_or_404(Player, pk=_int(request, "player"))
    except BadInput as error:
        return _bad_input(request, error)
    key = _idempotency_key(request, "reserve", session.pk, player.pk)

    def action() -> str:
        services.reservation_create(
            player=player, session=session, actor=request.user, idempotency_key=key
        )
        when = _when(session.starts_at, session.academy)
        return f"Reserved {session.display_title} for {player.full_name}, {when}."

    return _run(request, f"msg-session-{session.pk}", action)


@require_POST
@login_required
def book(request: SignedInRequest) -> HttpResponse:
    try:
        coach_id, type_id, when = _parse_slot(request.POST.get("slot", ""))
        player = get_object_or_404(Player, pk=_int(request, "player"))
    except BadInput as error:
        return _bad_input(request, error)
    coach = get_object_or_404(Coach.objects.select_related("academy"), pk=coach_id)
    session_type = get_object_or_404(SessionType, pk=type_id)
    key = _idempotency_key(request, "book", coach.pk, when.isoformat(), player.pk)

    def action() -> str:
        services.individual_booking_create(
            player=player,
            coach=coach,
            session_type=session_type,
            starts_at=when,
            actor=request.user,
            idempotency_key=key,
        )
        at = _when(when, coach.academy)
        return f"Booked {session_type.name} with {coach.display_name} for {player.full_name}, {at}."

    return _run(request, f"msg-slot-{coach.pk}-{int(when.timestamp())}", action)


def _parse_slot(raw: str) -> tuple[int, int, datetime]:
    """`<coach id>|<session type id>|<ISO start>` as the slot buttons send it."""
    parts = raw.split("|")
    if len(raw) > 80 or len(parts) != 3 or not all(p.isascii() and p.isdigit() for p in parts[:2]):
        raise BadInput("That time slot is malformed.")
    try:
        when = datetime.fromisoformat(parts[2])
    except ValueError as exc:
        raise BadInput("That time slot has a malformed time.") from exc
    if when.tzinfo is None:
        raise BadInput("That time slot has no time zone.")
    # Far-off times are no slot, and near year 1 or 9999 the date arithmetic overflows.
    if abs((when - timezone.now()).days) > MAX_DAYS_AWAY:
        raise BadInput("That time slot is out of range.")
    return int(parts[0]), int(parts[1]), when


@require_POST
@login_required
def cancel(request: SignedInRequest) -> HttpResponse:
    """Cancel a reservation (`reservation`) or a lesson (`booking`), after a confirmation."""
    target: SessionReservation | IndividualBooking
    try:
        if "reservation" in request.POST:
            target = get_object_or_404(
                SessionReservation.objects.select_related(
                    "session__academy", "session__session_type", "player"
                ),
                pk=_int(request, "reservation"),
            )
            title, starts_at, academy = (
                target.session.display_title,
                target.session.starts_at,
                target.session.academy,
            )
            near = f"msg-reservation-{target.pk}"
        else:
            lesson = get_object_or_404(
                IndividualBooking.objects.select_related("academy", "session_type", "player"),
                pk=_int(request, "booking"),
            )
            title, starts_at, academy = lesson.session_type.name, lesson.starts_at, lesson.academy
            near = f"msg-booking-{lesson.pk}"
            target = lesson
    except BadInput as error:
        return _bad_input(request, error)

    # The HTMX path confirmed in the browser; a plain form post confirms on a page of its own,
    # shown only to who may cancel (it names the player).
    if not request.htmx and request.POST.get("confirmed") != "yes":
        if not can(principal_for(request), Action.UPDATE, target):
            return _refuse(request, near)
        return render(
            request,
            "bookings/confirm_cancel.html",
            {
                "title": title,
                "when": _when(starts_at, academy),
                "player": target.player,
                "field": "reservation" if isinstance(target, SessionReservation) else "booking",
                "target": target,
                "next": _next_url(request),
            },
        )

    def action() -> str:
        if isinstance(target, SessionReservation):
            services.reservation_cancel(reservation=target, actor=request.user)
        else:
            services.individual_booking_cancel(booking=target, actor=request.user)
        return f"Cancelled {title} for {target.player.full_name}, {_when(starts_at, academy)}."

    return _run(request, near, action)


@require_POST
@login_required
def session_cancel(request: SignedInRequest) -> HttpResponse:
    """A coach or staff cancels a whole group session (and so every reservation in it)."""
    try:
        session = get_object_or_404(
            GroupSession.objects.select_related("academy", "session_type"),
            pk=_int(request, "session"),
        )
    except BadInput as error:
        return _bad_input(request, error)
    if not request.htmx and request.POST.get("confirmed") != "yes":
        if not can(principal_for(request), Action.UPDATE, session):
            return _refuse(request, f"msg-session-{session.pk}")
        return render(
            request,
            "bookings/confirm_cancel.html",
            {
                "title": session.display_title,
                "when": _when(session.starts_at, session.academy),
                "field": "session",
                "target": session,
                "whole_session": True,
                "next": _next_url(request),
            },
        )

    def action() -> str:
        services.group_session_cancel(session=session, actor=request.user)
        when = _when(session.starts_at, session.academy)
        return f"Cancelled the session {session.display_title}, {when}; its players were told."

    return _run(request, f"msg-session-{session.pk}", action)


MARK_WORDS = {"present": "checked in", "late": "checked in, late", "absent": "marked absent"}


def _parse_mark(raw: str) -> tuple[str, int, str]:
    """`<group|lesson>:<reservation or lesson id>:<present|late|absent>` as the buttons send it."""
    parts = raw.split(":")
    if len(raw) > 40 or len(parts) != 3 or parts[0] not in ("group", "lesson"):
        raise BadInput("That check-in is malformed.")
    if not (parts[1].isascii() and parts[1].isdigit()) or parts[2] not in MARK_WORDS:
        raise BadInput("That check-in is malformed.")
    return parts[0], int(parts[1]), parts[2]


@require_POST
@login_required
def attendance_mark(request: SignedInRequest) -> HttpResponse:
    """One tap on a coach's day: an attendee present, late or absent."""
    try:
        kind, ident, status = _parse_mark(request.POST.get("mark", ""))
    except BadInput as error:
        return _bad_input(request, error)
    if kind == "group":
        reservation = get_object_or_404(
            SessionReservation.objects.select_related("session", "player"), pk=ident
        )
        mark = partial(services.attendance_mark, reservation=reservation)
        player = reservation.player
    else:
        lesson = get_object_or_404(IndividualBooking.objects.select_related("player"), pk=ident)
        mark = partial(services.attendance_mark, lesson=lesson)
        player = lesson.player

    def action() -> str:
        mark(actor=request.user, status=status)
        return f"{player.full_name}: {MARK_WORDS[status]}."

    return _run(request, f"msg-mark-{kind}-{ident}", action)


@require_POST
@login_required
def goal_step(request: SignedInRequest) -> HttpResponse:
    """+10 % or -10 % on a goal, from the coach's dashboard: `<goal id>:<step>`."""
    goal_text, _, step_text = request.POST.get("step", "").partition(":")
    digits = step_text.removeprefix("-")
    if not (goal_text.isascii() and goal_text.isdigit() and len(goal_text) <= 12):
        return _bad_input(request, BadInput("That goal is malformed."))
    if not (digits.isascii() and digits.isdigit() and int(digits) <= 100):
        return _bad_input(request, BadInput("That step is malformed."))
    goal = get_object_or_404(Goal, pk=int(goal_text))

    def action() -> str:
        done = services.goal_step(actor=request.user, goal=goal, step=int(step_text))
        return f"{done.title}: {done.progress} %."

    return _run(request, f"msg-goal-{goal.pk}", action)


# -- the waiting list ----------------------------------------------------------------------------


def _session_and_player(request: HttpRequest) -> tuple[GroupSession, Player]:
    session = get_object_or_404(
        GroupSession.objects.select_related("academy", "session_type"),
        pk=_int(request, "session"),
    )
    return session, get_object_or_404(Player, pk=_int(request, "player"))


def _entry(request: HttpRequest) -> WaitlistEntry:
    return get_object_or_404(
        WaitlistEntry.objects.select_related("player", "session__academy", "session__session_type"),
        pk=_int(request, "entry"),
    )


@require_POST
@login_required
def waitlist_join(request: SignedInRequest) -> HttpResponse:
    try:
        session, player = _session_and_player(request)
    except BadInput as error:
        return _bad_input(request, error)
    key = _idempotency_key(request, "waitlist", session.pk, player.pk)

    def action() -> str:
        entry = services.waitlist_join(
            player=player, session=session, actor=request.user, idempotency_key=key
        )
        when = _when(session.starts_at, session.academy)
        place = ordinal(position(entry))
        title = session.display_title
        return f"{player.full_name} is {place} on the waiting list for {title}, {when}."

    return _run(request, f"msg-session-{session.pk}", action)


@require_POST
@login_required
def waitlist_leave(request: SignedInRequest) -> HttpResponse:
    """Leave the waiting list, or decline an offered spot: by entry (the family's list) or by
    session and the acting player (the day grid)."""
    try:
        if "entry" in request.POST:
            entry = _entry(request)
            session, player, near = entry.session, entry.player, f"msg-entry-{entry.pk}"
        else:
            session, player = _session_and_player(request)
            near = f"msg-session-{session.pk}"
    except BadInput as error:
        return _bad_input(request, error)

    def action() -> str:
        left = services.waitlist_leave(player=player, session=session, actor=request.user)
        when = _when(session.starts_at, session.academy)
        if left.offered_until is not None:
            return f"Declined the spot in {session.display_title}, {when} for {player.full_name}."
        return f"{player.full_name} left the waiting list for {session.display_title}, {when}."

    return _run(request, near, action)


@require_POST
@login_required
def waitlist_claim(request: SignedInRequest) -> HttpResponse:
    """Take the spot offered from the waiting list (a reservation, which claims the held spot)."""
    try:
        entry = _entry(request)
    except BadInput as error:
        return _bad_input(request, error)
    session, player = entry.session, entry.player
    key = _idempotency_key(request, "claim", entry.pk)

    def action() -> str:
        services.reservation_create(
            player=player, session=session, actor=request.user, idempotency_key=key
        )
        when = _when(session.starts_at, session.academy)
        return f"Reserved {session.display_title} for {player.full_name}, {when}."

    return _run(request, f"msg-entry-{entry.pk}", action)
