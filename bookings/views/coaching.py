"""The coach's dashboard and the pages around check-in, ratings and goals.

The dashboard's panels are live fragments (bookings.live.dashboard); its rating trend is a
plain partial that the page polls. A walk-in, a rating and a goal are small pages of their own
with ordinary forms (post, redirect, message), so they work without JavaScript; the
one-tap check-in and goal steps are buttons of the page's action form (views.actions).

Who may open what is bookings.access; a row the viewer may not act on is a 404, as in the
fragments, so a page never confirms that something exists to someone who may not see it.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.utils import timezone

from bookings import dashboards, selectors, services
from bookings.access import (
    Action,
    Role,
    can,
    coaches_session,
    marks_session,
    principal_for,
    reads_coach_dashboard,
)
from bookings.context import viewer_for
from bookings.errors import BookingError
from bookings.forms.coaching import FeedbackForm, GoalForm, NewGoalForm
from bookings.live.dashboard import (
    CoachActivity,
    CoachClients,
    CoachGoals,
    CoachInsights,
    CoachStats,
)
from bookings.models import (
    Attendance,
    Feedback,
    Goal,
    IndividualBooking,
    Player,
    SessionReservation,
)
from bookings.views.act_form import page_fragments
from bookings.views.requests import SignedInRequest
from bookings.windows import rating_open
from scheduling.models import Coach, GroupSession

# -- the dashboard --------------------------------------------------------------------------------


def _dashboard(request: SignedInRequest, coach: Coach, heading: str) -> HttpResponse:
    context = page_fragments(
        request,
        {
            "stats": CoachStats(coach.pk),
            "goals": CoachGoals(coach.pk),
            "activity": CoachActivity(coach.pk),
            "insights": CoachInsights(coach.pk),
            "clients": CoachClients(coach.pk),
        },
    )
    return render(
        request,
        "bookings/dashboard.html",
        {**context, **_trend_context(coach), "coach": coach, "heading": heading},
    )


@login_required
def coach_dashboard(request: SignedInRequest) -> HttpResponse:
    """The coach's landing page (seed 002)."""
    viewer = viewer_for(request, Role.COACH)
    coach = get_object_or_404(Coach, user=request.user, academy=viewer.academy)
    return _dashboard(request, coach, f"Hello, {coach.display_name}")


@login_required
def staff_coach(request: SignedInRequest, coach_id: int) -> HttpResponse:
    """A coach's dashboard as the front desk sees it."""
    viewer = viewer_for(request, Role.STAFF)
    coach = get_object_or_404(Coach, pk=coach_id, academy=viewer.academy)
    return _dashboard(request, coach, coach.display_name)


def _trend_context(coach: Coach) -> dict[str, Any]:
    today = timezone.localdate(timezone.now(), coach.academy.tz)
    return {
        "trend": dashboards.rating_trend(coach, today),
        "trend_url": reverse("coach_trend", args=[coach.pk]),
    }


@login_required
def coach_trend(request: SignedInRequest, coach_id: int) -> HttpResponse:
    """The rating trend, polled by the dashboard (a month-scale figure: not pushed)."""
    viewer_for(request)  # the academy's time zone
    coach = get_object_or_404(Coach.objects.select_related("academy"), pk=coach_id)
    if not reads_coach_dashboard(principal_for(request), coach):
        raise Http404("No such coach.")
    with timezone.override(coach.academy.tz):
        return render(request, "fragments/dashboard.html#trend", _trend_context(coach))


# -- walk-ins -----------------------------------------------------------------------------------

WALK_IN_LISTED = 30  # candidates on the page; a name narrows them down


def _back_to_day(request: SignedInRequest, session: GroupSession) -> str:
    """A coach of the session goes back to their day; the front desk to its overview."""
    day = session.starts_at.astimezone(session.academy.tz).date().isoformat()
    if coaches_session(principal_for(request), session):
        return reverse("coach_home") + f"?date={day}"
    return reverse("staff_home") + f"?date={day}"


@login_required
def walk_in(request: SignedInRequest, session_id: int) -> HttpResponse:
    """Add a player who turned up without a booking: a coach picks among the players they
    teach, the front desk searches the academy. POST player=<id>: book and mark present."""
    viewer_for(request)
    session = get_object_or_404(
        GroupSession.objects.select_related("academy", "session_type"), pk=session_id
    )
    principal = principal_for(request)
    if not marks_session(principal, session):
        raise Http404("No such session.")
    back = _back_to_day(request, session)
    if request.method == "POST":
        raw = request.POST.get("player", "")
        if not (raw.isascii() and raw.isdigit() and len(raw) <= 12):
            messages.error(request, "Choose a player to add.")
            return HttpResponseRedirect(request.path)
        player = get_object_or_404(Player, pk=int(raw), academy_id=session.academy_id)
        try:
            services.attendance_walk_in(actor=request.user, session=session, player=player)
        except BookingError as error:
            messages.error(request, error.message)
            return HttpResponseRedirect(request.path)
        messages.success(request, f"Added {player.full_name} to {session.display_title}: present.")
        return HttpResponseRedirect(back)

    query = request.GET.get("q", "")[:80].strip()
    booked = set(
        SessionReservation.objects.filter(
            session=session, status=SessionReservation.Status.RESERVED
        ).values_list("player_id", flat=True)
    )
    if principal.manages(session.academy_id):
        found = (
            selectors.find_players(session.academy_id, query, limit=WALK_IN_LISTED + 1)
            if query
            else []
        )
        scope = "academy"
    else:
        mine = session.coaches.filter(pk__in=principal.coach_ids_in(session.academy_id)).first()
        found = dashboards.taught_players(mine) if mine else []
        words = query.casefold().split()
        found = [p for p in found if all(w in p.full_name.casefold() for w in words)]
        scope = "taught"
    candidates = [p for p in found if p.pk not in booked]
    return render(
        request,
        "bookings/walk_in.html",
        {
            "session": session,
            "query": query,
            "players": candidates[:WALK_IN_LISTED],
            "more": len(candidates) > WALK_IN_LISTED,
            "scope": scope,
            "back": back,
        },
    )


# -- ratings --------------------------------------------------------------------------------------


@login_required
def feedback(request: SignedInRequest, attendance_id: int) -> HttpResponse:
    """Rate a session the player attended (the player or a guardian), or change the rating."""
    viewer_for(request)
    attendance = get_object_or_404(
        Attendance.objects.select_related(
            "player", "session__session_type", "lesson__session_type", "lesson__coach"
        ),
        pk=attendance_id,
    )
    if not principal_for(request).acts_for(attendance.player_id):
        raise Http404("No such session.")
    held: GroupSession | IndividualBooking
    if attendance.session is not None:
        held, title = attendance.session, attendance.session.display_title
    else:
        assert attendance.lesson is not None  # one of the two (a check constraint)
        held, title = attendance.lesson, attendance.lesson.session_type.name
    existing = Feedback.objects.filter(attendance=attendance).first()
    is_open = attendance.attended and rating_open(held.starts_at, held.ends_at, timezone.now())
    initial = {"rating": existing.rating, "comment": existing.comment} if existing else {}
    form = FeedbackForm(request.POST or None, initial=initial)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                services.feedback_save(
                    attendance=attendance,
                    actor=request.user,
                    rating=form.cleaned_data["rating"],
                    comment=form.cleaned_data["comment"],
                )
            except BookingError as error:
                form.add_error(None, error.message)
                status = 409
            else:
                messages.success(request, f"Thank you: your rating of {title} is saved.")
                return HttpResponseRedirect(reverse("home"))
        else:
            status = 400
    return render(
        request,
        "bookings/feedback.html",
        {
            "form": form,
            "attendance": attendance,
            "title": title,
            "held": held,
            "existing": existing,
            "is_open": is_open,
        },
        status=status,
    )


# -- goals ----------------------------------------------------------------------------------------


def _back_to_dashboard(request: SignedInRequest, coach: Coach) -> str:
    if coach.pk in principal_for(request).coach_academy_by_id:
        return reverse("coach_dashboard")
    return reverse("staff_coach", args=[coach.pk])


@login_required
def goal_new(request: SignedInRequest, coach_id: int) -> HttpResponse:
    viewer_for(request)
    coach = get_object_or_404(Coach.objects.select_related("academy"), pk=coach_id)
    principal = principal_for(request)
    if not reads_coach_dashboard(principal, coach):
        raise Http404("No such coach.")
    if principal.manages(coach.academy_id):
        players = list(Player.objects.filter(academy_id=coach.academy_id))
    else:
        players = dashboards.taught_players(coach)
    chosen = request.GET.get("player", "")
    form = NewGoalForm(
        request.POST or None,
        players=players,
        initial={"player": chosen} if chosen.isascii() and chosen.isdigit() else {},
    )
    status = 200
    if request.method == "POST":
        if form.is_valid():
            player = get_object_or_404(
                Player, pk=form.cleaned_data["player"], academy_id=coach.academy_id
            )
            try:
                goal = services.goal_create(
                    actor=request.user,
                    coach=coach,
                    player=player,
                    plan=form.plan(),
                )
            except BookingError as error:
                form.add_error(None, error.message)
                status = 409
            else:
                messages.success(request, f"Goal set for {player.full_name}: {goal.title}.")
                return HttpResponseRedirect(_back_to_dashboard(request, coach))
        else:
            status = 400
    return render(
        request,
        "bookings/goal_form.html",
        {"form": form, "coach": coach, "back": _back_to_dashboard(request, coach), "new": True},
        status=status,
    )


@login_required
def goal_edit(request: SignedInRequest, goal_id: int) -> HttpResponse:
    viewer_for(request)
    goal = get_object_or_404(Goal.objects.select_related("coach__academy", "player"), pk=goal_id)
    if not can(principal_for(request), Action.UPDATE, goal):
        raise Http404("No such goal.")
    form = GoalForm(
        request.POST or None,
        initial={
            "title": goal.title,
            "target_date": goal.target_date,
            "progress": goal.progress,
            "notes": goal.notes,
        },
    )
    status = 200
    back = _back_to_dashboard(request, goal.coach)
    if request.method == "POST":
        if form.is_valid():
            try:
                services.goal_update(actor=request.user, goal=goal, plan=form.plan())
            except BookingError as error:
                form.add_error(None, error.message)
                status = 409
            else:
                messages.success(request, f"Goal saved for {goal.player.full_name}.")
                return HttpResponseRedirect(back)
        else:
            status = 400
    return render(
        request,
        "bookings/goal_form.html",
        {"form": form, "coach": goal.coach, "goal": goal, "back": back, "new": False},
        status=status,
    )
