"""A coach's weekly lesson hours and time off, kept by the front desk (every coach of the
academy) or by the coach (their own). Plain form posts with post/redirect/get."""

from __future__ import annotations

from collections.abc import Callable

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from bookings.access import Role, edits_coach_hours, principal_for
from bookings.context import viewer_for
from bookings.errors import BookingError
from bookings.forms.schedule import AvailabilityForm, TimeOffForm
from bookings.services import availability_add, availability_remove, time_off_add, time_off_remove
from bookings.views.pages import _own_coach
from bookings.views.requests import SignedInRequest
from scheduling.models import Coach, CoachAvailability, CoachTimeOff, Weekday
from scheduling.times import day_and_time, time_range


@login_required
def staff_coaches(request: HttpRequest) -> HttpResponse:
    viewer = viewer_for(request, Role.STAFF)
    coaches = Coach.objects.filter(academy=viewer.academy).order_by("-is_active", "display_name")
    return render(request, "bookings/staff_coaches.html", {"coaches": coaches})


@login_required
def my_hours(request: HttpRequest) -> HttpResponse:
    viewer = viewer_for(request, Role.COACH)
    return redirect("coach_hours", _own_coach(request, viewer).pk)


def _coach(request: HttpRequest, coach_id: int) -> Coach:
    coach = get_object_or_404(Coach.objects.select_related("academy"), pk=coach_id)
    principal = principal_for(request)
    if not principal.is_member(coach.academy_id):
        raise Http404("No such coach.")
    if not edits_coach_hours(principal, coach):
        raise PermissionDenied("Only the front desk and the coach keep a coach's hours.")
    viewer_for(request)  # the menu
    timezone.activate(coach.academy.tz)
    return coach


def _page(
    request: HttpRequest,
    coach: Coach,
    window_form: AvailabilityForm | None = None,
    away_form: TimeOffForm | None = None,
    status: int = 200,
) -> HttpResponse:
    now = timezone.now()
    return render(
        request,
        "bookings/coach_hours.html",
        {
            "coach": coach,
            "windows": coach.availability.select_related("session_type").order_by(
                "weekday", "start_time"
            ),
            "time_off": coach.time_off.filter(ends_at__gt=now).order_by("starts_at"),
            "window_form": window_form or AvailabilityForm(coach=coach),
            "away_form": away_form or TimeOffForm(),
        },
        status=status,
    )


@login_required
def coach_hours(request: HttpRequest, coach_id: int) -> HttpResponse:
    return _page(request, _coach(request, coach_id))


def _done(request: HttpRequest, coach: Coach, action: Callable[[], str]) -> HttpResponse | None:
    """Run a service; on success, back to the page with a message (None: refused, said)."""
    try:
        text = action()
    except BookingError as error:
        messages.error(request, error.message)
        return None
    messages.success(request, text)
    return redirect("coach_hours", coach.pk)


@require_POST
@login_required
def window_add(request: SignedInRequest, coach_id: int) -> HttpResponse:
    coach = _coach(request, coach_id)
    form = AvailabilityForm(request.POST, coach=coach)
    if form.is_valid():
        data = form.cleaned_data

        def action() -> str:
            availability_add(coach=coach, actor=request.user, **data)
            day = Weekday(data["weekday"]).label
            return f"Added {day} {time_range(data['start_time'], data['end_time'])}."

        answer = _done(request, coach, action)
        if answer is not None:
            return answer
    return _page(request, coach, window_form=form, status=400 if form.errors else 409)


@require_POST
@login_required
def window_remove(request: SignedInRequest, coach_id: int, window_id: int) -> HttpResponse:
    coach = _coach(request, coach_id)
    window = get_object_or_404(CoachAvailability, pk=window_id, coach=coach)

    def action() -> str:
        availability_remove(window=window, actor=request.user)
        return f"Removed {window}."

    return _done(request, coach, action) or redirect("coach_hours", coach.pk)


@require_POST
@login_required
def away_add(request: SignedInRequest, coach_id: int) -> HttpResponse:
    coach = _coach(request, coach_id)
    form = TimeOffForm(request.POST)
    if form.is_valid():
        starts_at, ends_at = form.span(coach.academy.tz)

        def action() -> str:
            time_off_add(
                coach=coach,
                starts_at=starts_at,
                ends_at=ends_at,
                reason=form.cleaned_data["reason"],
                actor=request.user,
            )
            return f"Added time off from {day_and_time(starts_at)} to {day_and_time(ends_at)}."

        answer = _done(request, coach, action)
        if answer is not None:
            return answer
    return _page(request, coach, away_form=form, status=400 if form.errors else 409)


@require_POST
@login_required
def away_remove(request: SignedInRequest, coach_id: int, away_id: int) -> HttpResponse:
    coach = _coach(request, coach_id)
    away = get_object_or_404(CoachTimeOff, pk=away_id, coach=coach)

    def action() -> str:
        time_off_remove(away=away, actor=request.user)
        return "Removed the time off."

    return _done(request, coach, action) or redirect("coach_hours", coach.pk)
