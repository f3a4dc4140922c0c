"""The pages of each role. Thin: pick what to show, let fragments render it."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta, tzinfo
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from bookings import selectors
from bookings.access import Role
from bookings.context import Viewer, academies_of, forget_viewer, home_url_for, viewer_for
from bookings.dates import parse_date
from bookings.live.calendars import CoachCalendar, CoachDay, StaffCalendar
from bookings.live.dashboard import Goals
from bookings.live.desk import DeskDay, DeskFeed
from bookings.live.grids import DayGrid, LessonSlots
from bookings.live.lists import OwnerList, Reservations, Schedule
from bookings.models import Player
from bookings.views.act_form import page_fragments
from realtime.fragments import LiveFragment
from scheduling.models import Coach, CoachAvailability, Court, SessionType


def _day_param(request: HttpRequest, academy_tz: tzinfo) -> date:
    """The ?date= of a page, or today in the academy; a malformed date says so and uses today."""
    today = timezone.now().astimezone(academy_tz).date()
    raw = request.GET.get("date")
    if not raw:
        return today
    day = parse_date(raw)
    if day is None:
        messages.error(request, f"“{raw[:20]}” is not a date we can show; showing today.")
        return today
    return day


@login_required
def home(request: HttpRequest) -> HttpResponse:
    viewer = viewer_for(request)
    return redirect(home_url_for(viewer, request.session.get("role")))


@require_POST  # it changes the session: a form post with a CSRF token, never a link
@login_required
def switch_role(request: HttpRequest) -> HttpResponse:
    """POST to=<academy id>:<role>: act in another academy or as another of one's roles."""
    viewer = viewer_for(request)
    academy_text, _, role_text = request.POST.get("to", "").partition(":")
    academy = next((a for a in academies_of(viewer.principal) if str(a.pk) == academy_text), None)
    # Only a role with a home page that the user holds in that academy (an admin: its front desk).
    offered = {str(r) for r in viewer.principal.page_roles(academy.pk)} if academy else set()
    if academy is None or role_text not in offered:
        messages.error(request, "That view is not available to you.")
        return redirect("home")
    request.session["academy_id"] = academy.pk
    request.session["role"] = role_text
    forget_viewer(request)
    return redirect(home_url_for(viewer_for(request), role_text))


# -- players and parents ---------------------------------------------------------------------------


def _own_player(request: HttpRequest, viewer: Viewer) -> Player:
    return get_object_or_404(Player, user=request.user, academy=viewer.academy)


def _tab(request: HttpRequest) -> str:
    return "reservations" if request.GET.get("tab") == "reservations" else "schedule"


def _list(tab: str) -> type[OwnerList]:
    return Reservations if tab == "reservations" else Schedule


@login_required
def player_home(request: HttpRequest) -> HttpResponse:
    viewer = viewer_for(request, Role.PLAYER)
    player = _own_player(request, viewer)
    tab = _tab(request)
    context = page_fragments(
        request, {"list": _list(tab).of_player(player.pk), "goals": Goals.of_player(player.pk)}
    )
    return render(
        request,
        "bookings/home.html",
        {**context, "tab": tab, "heading": "My sessions", "acting_player": player},
    )


def _children(request: HttpRequest, viewer: Viewer) -> list[Player]:
    return [
        p
        for p in selectors.family_players(request.user.pk or 0)
        if p.academy_id == viewer.academy.pk
    ]


@login_required
def parent_home(request: HttpRequest) -> HttpResponse:
    viewer = viewer_for(request, Role.PARENT)
    children = _children(request, viewer)
    chosen = request.GET.get("player", "all")
    child = next((c for c in children if str(c.pk) == chosen), None)
    if chosen != "all" and child is None:
        messages.error(request, "That player is not linked to your account; showing all.")
    tab = _tab(request)
    kind = _list(tab)
    shown = kind.of_player(child.pk) if child else kind.of_family(request.user.pk or 0)
    goals = Goals.of_player(child.pk) if child else Goals.of_family(request.user.pk or 0)
    context = page_fragments(request, {"list": shown, "goals": goals})
    return render(
        request,
        "bookings/home.html",
        {
            **context,
            "tab": tab,
            "heading": "My family",
            "children": children,
            "chosen": child,
            "acting_players": [child] if child else children,
            "acting_player": child,
        },
    )


def _schedule_page(
    request: HttpRequest,
    viewer: Viewer,
    acting_players: list[Player],
    acting: Player | None,
    heading: str,
) -> HttpResponse:
    academy = viewer.academy
    day = _day_param(request, academy.tz)
    types = list(SessionType.objects.filter(academy=academy, kind=SessionType.Kind.INDIVIDUAL))
    coaches = list(Coach.objects.filter(academy=academy, is_active=True))
    session_type = _pick(request, "type", types)
    # By default, a coach who teaches the chosen lesson type (not just the first coach).
    teaching = set(
        CoachAvailability.objects.filter(session_type=session_type).values_list(
            "coach_id", flat=True
        )
    )
    coaches.sort(key=lambda c: (c.pk not in teaching, c.display_name))
    coach = _pick(request, "coach", coaches)
    shown: dict[str, LiveFragment] = {"day": DayGrid(academy.pk, day)}
    if coach and session_type:
        shown["slots"] = LessonSlots(coach.pk, session_type.pk, day)
    # What is already booked, next to where one books: "already booked" points at this list.
    if acting and len(acting_players) == 1:
        shown["list"] = Reservations.of_player(acting.pk)
    else:
        shown["list"] = Reservations.of_family(request.user.pk or 0)
    context = page_fragments(request, shown)
    return render(
        request,
        "bookings/schedule.html",
        {
            **context,
            "heading": heading,
            "day": day,
            "prev_day": day - timedelta(days=1),
            "next_day": day + timedelta(days=1),
            "types": types,
            "coaches": coaches,
            "session_type": session_type,
            "coach": coach,
            "acting_players": acting_players,
            "acting_player": acting,
        },
    )


def _pick[P: (Coach, SessionType)](request: HttpRequest, name: str, options: list[P]) -> P | None:
    raw = request.GET.get(name)
    if raw:
        found = next((o for o in options if str(o.pk) == raw), None)
        if found is None:
            messages.error(
                request,
                f"That {'coach' if name == 'coach' else 'session type'} is not offered here.",
            )
        else:
            return found
    return options[0] if options else None


@login_required
def player_schedule(request: HttpRequest) -> HttpResponse:
    viewer = viewer_for(request, Role.PLAYER)
    player = _own_player(request, viewer)
    return _schedule_page(request, viewer, [player], player, "Book a session")


@login_required
def parent_schedule(request: HttpRequest) -> HttpResponse:
    viewer = viewer_for(request, Role.PARENT)
    children = _children(request, viewer)
    chosen = next((c for c in children if str(c.pk) == request.GET.get("player")), None)
    return _schedule_page(
        request,
        viewer,
        children,
        chosen or (children[0] if children else None),
        "Book for your family",
    )


# -- coaches ------------------------------------------------------------------------------------


def _own_coach(request: HttpRequest, viewer: Viewer) -> Coach:
    return get_object_or_404(Coach, user=request.user, academy=viewer.academy)


@login_required
def coach_home(request: HttpRequest) -> HttpResponse:
    viewer = viewer_for(request, Role.COACH)
    coach = _own_coach(request, viewer)
    day = _day_param(request, viewer.academy.tz)
    tab = "full" if request.GET.get("tab") == "full" else "mine"
    main: LiveFragment = (
        CoachCalendar(coach.pk, coach.academy_id, day, 1)
        if tab == "full"
        else CoachDay(coach.pk, day)
    )
    context = page_fragments(request, {"main": main})
    return render(
        request,
        "bookings/coach_home.html",
        {
            **context,
            "tab": tab,
            "day": day,
            "prev_day": day - timedelta(days=1),
            "next_day": day + timedelta(days=1),
            "coach": coach,
        },
    )


def _int_param(request: HttpRequest, name: str, allowed: set[int]) -> int:
    """A filter's id, or 0 (any) for one that is missing, malformed or not of this academy."""
    raw = request.GET.get(name, "")
    value = int(raw) if raw.isascii() and raw.isdigit() and len(raw) < 10 else 0
    return value if value in allowed else 0


def _calendar_page(
    request: HttpRequest,
    viewer: Viewer,
    calendar: Callable[..., LiveFragment],
    heading: str,
) -> HttpResponse:
    """A day (court x time) or a week (by court or by coach), filtered by coach, court and
    session type: every choice is a GET parameter of a plain form, and part of the live key."""
    day = _day_param(request, viewer.academy.tz)
    view = "day" if request.GET.get("view") == "day" else "week"
    by = "coach" if request.GET.get("by") == "coach" else "court"
    first = day if view == "day" else day - timedelta(days=day.weekday())
    step = timedelta(days=1 if view == "day" else 7)
    days = 1 if view == "day" else 7
    academy = viewer.academy
    coaches = list(Coach.objects.filter(academy=academy))
    courts = list(Court.objects.filter(academy=academy))
    types = list(SessionType.objects.filter(academy=academy))
    filters = {
        "coach": _int_param(request, "coach", {c.pk for c in coaches}),
        "court": _int_param(request, "court", {c.pk for c in courts}),
        "type": _int_param(request, "type", {t.pk for t in types}),
    }
    fragment = calendar(first, days, by, filters["coach"], filters["court"], filters["type"])
    context = page_fragments(request, {"main": fragment})
    kept = {k: v for k, v in filters.items() if v}
    return render(
        request,
        "bookings/calendar.html",
        {
            **context,
            "heading": heading,
            "view": view,
            "by": by,
            "first": first,
            "last": first + timedelta(days=days - 1),
            "prev_day": first - step,
            "next_day": first + step,
            "day": day,
            "today": timezone.localdate(timezone.now(), academy.tz),
            "coaches": coaches,
            "courts": courts,
            "types": types,
            "filters": filters,
            "kept": urlencode({"by": by, **kept}),
        },
    )


@login_required
def coach_schedule(request: HttpRequest) -> HttpResponse:
    viewer = viewer_for(request, Role.COACH)
    coach = _own_coach(request, viewer)
    return _calendar_page(
        request,
        viewer,
        lambda first, days, *rest: CoachCalendar(coach.pk, coach.academy_id, first, days, *rest),
        "Calendar",
    )


# -- staff --------------------------------------------------------------------------------------


@login_required
def staff_home(request: HttpRequest) -> HttpResponse:
    """The front desk: the day live (sessions, occupancy, check-in), the academy's recent
    changes with a toast for each new booking, the player search and the coaches."""
    viewer = viewer_for(request, Role.STAFF)
    academy = viewer.academy
    day = _day_param(request, academy.tz)
    query = request.GET.get("q", "")[:80]
    results = selectors.find_players(academy.pk, query) if query else []
    context = page_fragments(
        request, {"day": DeskDay(academy.pk, day), "feed": DeskFeed(academy.pk)}
    )
    return render(
        request,
        "bookings/staff_home.html",
        {
            **context,
            "query": query,
            "results": results,
            "academy": academy,
            "day": day,
            "today": timezone.localdate(timezone.now(), academy.tz),
            "prev_day": day - timedelta(days=1),
            "next_day": day + timedelta(days=1),
            "coaches": Coach.objects.filter(academy=academy, is_active=True),
        },
    )


@login_required
def staff_calendar(request: HttpRequest) -> HttpResponse:
    viewer = viewer_for(request, Role.STAFF)
    academy_id = viewer.academy.pk
    return _calendar_page(
        request,
        viewer,
        lambda first, days, *rest: StaffCalendar(academy_id, first, days, *rest),
        "Academy calendar",
    )


def _staff_player(request: HttpRequest, player_id: int) -> tuple[Viewer, Player]:
    viewer = viewer_for(request, Role.STAFF)
    return viewer, get_object_or_404(Player, pk=player_id, academy=viewer.academy)


@login_required
def staff_player(request: HttpRequest, player_id: int) -> HttpResponse:
    _, player = _staff_player(request, player_id)
    tab = _tab(request)
    context = page_fragments(
        request, {"list": _list(tab).of_player(player.pk), "goals": Goals.of_player(player.pk)}
    )
    return render(
        request,
        "bookings/home.html",
        {
            **context,
            "tab": tab,
            "heading": player.full_name,
            "acting_player": player,
            "staff_view": True,
            "player": player,
        },
    )


@login_required
def staff_player_book(request: HttpRequest, player_id: int) -> HttpResponse:
    viewer, player = _staff_player(request, player_id)
    return _schedule_page(request, viewer, [player], player, f"Book for {player.full_name}")
