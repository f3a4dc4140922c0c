"""Running the schedule in the app: the front desk's day plan, a new session or weekly series,
the edit form of a session (staff: everything, one session or the following ones of its
series; its coach: the notes), cancelling the following sessions of a series, a series' page,
and the coach's own sessions with their notes.

Plain form posts with post/redirect/get, so every flow works without JavaScript. An edit
carries the version and the values it started from; a stale save comes back with both values
of each field someone else changed ("keep mine" / "take theirs", bookings.services.sessions).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, timedelta
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, QueryDict
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST

from bookings import selectors
from bookings.access import Role, edits_session, principal_for
from bookings.context import viewer_for
from bookings.errors import BookingError
from bookings.forms.schedule import EditSessionForm, NewSessionForm, NotesForm, SessionForm
from bookings.live.schedule import SessionEditor, StaffPlan
from bookings.services import (
    group_session_create,
    group_session_update,
    series_cancel,
    series_create,
    series_update,
)
from bookings.services.sessions import PLAN_FIELDS, Stale, plan_display, plan_of, plan_values
from bookings.views.act_form import page_fragments
from bookings.views.pages import _day_param, _own_coach
from bookings.views.requests import SignedInRequest
from scheduling.models import Academy, GroupSession, SessionSeries
from scheduling.times import day_and_time

# A refusal's code -> the form field it is about (None: the whole form).
ERROR_FIELDS = {
    "court_busy": "court",
    "coach_busy": "coaches",
    "coach_away": "coaches",
    "coach_inactive": "coaches",
    "capacity_below_reservations": "capacity",
    "not_group": "session_type",
    "bad_times": "end",
    "bad_dates": "repeat_until",
    "series_empty": "repeat_until",
    "series_too_long": "repeat_until",
    "moves_booked": "confirm_moves",
}


def _refusal(form: SessionForm | NotesForm, error: BookingError) -> None:
    field = ERROR_FIELDS.get(error.code)
    if error.code == "bad_dates" and "not one of" in error.message:
        field = "skip"  # a skipped date that is no day of the series
    form.add_error(field if field in form.fields else None, error.message)


def _activate(academy: Academy) -> None:
    timezone.activate(academy.tz)  # forms and pages show the academy's local time


# -- the day plan ----------------------------------------------------------------------------


@login_required
def staff_sessions(request: HttpRequest) -> HttpResponse:
    viewer = viewer_for(request, Role.STAFF)
    academy = viewer.academy
    day = _day_param(request, academy.tz)
    context = page_fragments(request, {"plan": StaffPlan(academy.pk, day)})
    return render(
        request,
        "bookings/staff_sessions.html",
        {
            **context,
            "day": day,
            "prev_day": day - timedelta(days=1),
            "next_day": day + timedelta(days=1),
        },
    )


# -- a new session or series -------------------------------------------------------------------


@login_required
def session_new(request: SignedInRequest) -> HttpResponse:
    viewer = viewer_for(request, Role.STAFF)
    academy = viewer.academy
    day = _day_param(request, academy.tz)
    first_type = academy.session_types.filter(kind="group").first()
    initial = {
        "day": day,
        "start": "17:00",
        "end": "18:00",
        "capacity": first_type.default_capacity if first_type else 8,
    }
    form = NewSessionForm(request.POST or None, academy=academy, initial=initial)
    if request.method == "POST" and form.is_valid():
        plan, until = form.plan(), form.cleaned_data.get("repeat_until")
        try:
            if until:
                series = series_create(
                    academy=academy,
                    plan=plan,
                    until=until,
                    skip=form.cleaned_data["skip"],
                    actor=request.user,
                )
                made = series.occurrences.count()
                messages.success(request, f"Created {made} sessions: {series.describe()}.")
            else:
                session = group_session_create(
                    academy=academy,
                    plan=plan,
                    actor=request.user,
                )
                when = day_and_time(session.starts_at.astimezone(academy.tz))
                messages.success(request, f"Created {session.display_title}, {when}.")
        except BookingError as error:
            _refusal(form, error)
        else:
            first = plan.starts_at.astimezone(academy.tz).date()
            return redirect(reverse("staff_sessions") + f"?date={first}")
    return render(request, "bookings/session_new.html", {"form": form, "day": day})


# -- editing a session ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ConflictRow:
    name: str
    label: str
    mine: str
    theirs: str
    keep_mine: bool  # the default choice: they changed it too


def _editable(request: HttpRequest, session_id: int) -> tuple[GroupSession, bool]:
    """The session and whether the viewer is staff (else its coach, who edits the notes); a
    session of another academy is 404, one the viewer may not edit 403."""
    session = get_object_or_404(
        GroupSession.objects.select_related("academy", "session_type", "court", "series"),
        pk=session_id,
    )
    principal = principal_for(request)
    if not principal.is_member(session.academy_id):
        raise Http404("No such session.")
    if not edits_session(principal, session):
        raise PermissionDenied("Only the front desk and the session's coaches edit it.")
    viewer_for(request)  # the menu
    _activate(session.academy)
    return session, principal.manages(session.academy_id)


def _start_values(session: GroupSession, fields: tuple[str, ...]) -> dict[str, Any]:
    """A fresh form's initial data: the stored values, and the same as its base."""
    values = plan_values(plan_of(session), session.academy.tz)
    initial: dict[str, Any] = {name: values[name] for name in fields}
    if "coaches" in initial:
        initial["coaches"] = [int(pk) for pk in values["coaches"].split(",") if pk]
    initial.update({f"base_{name}": values[name] for name in fields})
    initial["version"] = session.version
    return initial


def _take_theirs(data: QueryDict) -> QueryDict:
    """A resubmitted conflict: each field marked "take theirs" gets the stored value, which the
    form carries as its base since the conflict was shown."""
    data = data.copy()
    for name in PLAN_FIELDS:
        if data.get(f"choose_{name}") == "theirs":
            value = data.get(f"base_{name}", "")
            if name == "coaches":
                data.setlist(name, [pk for pk in value.split(",") if pk])
            else:
                data[name] = value
    return data


def _after_conflict(data: QueryDict, stale: Stale, session: GroupSession) -> QueryDict:
    """The form again, from the stored version: the user's values stay in the inputs."""
    data = data.copy()
    values = plan_values(stale.stored, session.academy.tz)
    data["version"] = str(stale.version)
    for name, value in values.items():
        if f"base_{name}" in data or name in data:
            data[f"base_{name}"] = value
    for name in PLAN_FIELDS:
        data.pop(f"choose_{name}", None)
    return data


def _conflicts(
    form: EditSessionForm | NotesForm, session: GroupSession, stale: Stale
) -> list[ConflictRow]:
    tz = session.academy.tz
    stored = plan_display(stale.stored, tz)
    if isinstance(form, EditSessionForm):
        mine_plan = form.plan()
    else:
        mine_plan = replace(plan_of(session), notes=form.cleaned_data["notes"])
    mine, mine_values = plan_display(mine_plan, tz), plan_values(mine_plan, tz)
    started = form.base()
    return [
        ConflictRow(
            name=name,
            label=PLAN_FIELDS[name],
            mine=mine[name],
            theirs=stored[name],
            keep_mine=mine_values[name] != started.get(name),
        )
        for name in stale.fields
        if name in started
    ]


@login_required
def session_edit(request: SignedInRequest, session_id: int) -> HttpResponse:
    session, staff = _editable(request, session_id)
    academy = session.academy
    form: EditSessionForm | NotesForm
    fields = tuple(PLAN_FIELDS) if staff else ("notes",)
    conflicts: list[ConflictRow] = []
    if request.method == "POST" and not session.is_cancelled:
        data = _take_theirs(request.POST)
        form = EditSessionForm(data, academy=academy) if staff else NotesForm(data)
        if form.is_valid():
            try:
                done = _save(request, session, form, staff)
            except BookingError as error:
                if error.code == "stale" and isinstance(error.existing, Stale):
                    conflicts = _conflicts(form, session, error.existing)
                    again = _after_conflict(data, error.existing, session)
                    form = EditSessionForm(again, academy=academy) if staff else NotesForm(again)
                    form.is_valid()
                else:
                    _refusal(form, error)
            else:
                messages.success(request, done)
                return redirect(_back(session, staff))
    else:
        initial = _start_values(session, fields)
        form = (
            EditSessionForm(initial=initial, academy=academy)
            if staff
            else NotesForm(initial=initial)
        )
    context = page_fragments(request, {"stored": SessionEditor(session.pk)})
    return render(
        request,
        "bookings/session_edit.html",
        {
            **context,
            "session": session,
            "form": form,
            "staff": staff,
            "conflicts": conflicts,
            "base_fields": [form[f"base_{name}"] for name in fields],
            "back": _back(session, staff),
        },
    )


def _save(
    request: SignedInRequest, session: GroupSession, form: EditSessionForm | NotesForm, staff: bool
) -> str:
    actor = request.user
    version, base = form.cleaned_data["version"], form.base()
    if isinstance(form, NotesForm):
        group_session_update(
            session=session,
            plan=replace(plan_of(session), notes=form.cleaned_data["notes"]),
            actor=actor,
            expected_version=version,
            base=base,
        )
        return f"Saved the notes of {session.display_title}."
    plan = form.plan()
    when = day_and_time(plan.starts_at.astimezone(session.academy.tz))
    if form.cleaned_data["scope"] == "following" and session.series_id is not None:
        series = series_update(
            session=session,
            plan=plan,
            actor=actor,
            expected_version=version,
            base=base,
            confirm_moves=form.cleaned_data["confirm_moves"],
        )
        return f"Saved this and the following sessions: {series.describe()}."
    group_session_update(
        session=session,
        plan=plan,
        actor=actor,
        expected_version=version,
        base=base,
        confirm_moves=form.cleaned_data["confirm_moves"],
    )
    return f"Saved {plan.title or plan.session_type.name}, {when}."


def _back(session: GroupSession, staff: bool) -> str:
    if not staff:
        return reverse("coach_sessions")
    day = session.starts_at.astimezone(session.academy.tz).date()
    return reverse("staff_sessions") + f"?date={day}"


@require_POST
@login_required
def series_cancel_following(request: SignedInRequest, session_id: int) -> HttpResponse:
    """Cancel this session and the following ones of its series (after a confirmation)."""
    session, staff = _editable(request, session_id)
    if not staff or session.series_id is None:
        raise PermissionDenied("Only the front desk cancels a series.")
    tz = session.academy.tz
    if request.POST.get("confirmed") != "yes":
        return render(
            request,
            "bookings/confirm_cancel.html",
            {
                "title": session.display_title,
                "when": day_and_time(session.starts_at.astimezone(tz))
                + " and every following session of its series",
                "action": reverse("series_cancel", args=[session.pk]),
                "heading": "this and the following sessions",
                "whole_session": True,
                "next": reverse("session_edit", args=[session.pk]),
            },
        )
    try:
        cancelled = series_cancel(session=session, actor=request.user)
    except BookingError as error:
        messages.error(request, error.message)
        return redirect("session_edit", session.pk)
    messages.success(
        request,
        f"Cancelled {len(cancelled)} sessions of {session.display_title} from "
        f"{session.starts_at.astimezone(tz):%a %-d %b}; their players were told.",
    )
    return redirect(_back(session, staff))


# -- a series -------------------------------------------------------------------------------------


@login_required
def series_detail(request: HttpRequest, series_id: int) -> HttpResponse:
    viewer = viewer_for(request, Role.STAFF)
    series = get_object_or_404(
        SessionSeries.objects.select_related("academy", "session_type", "court"),
        pk=series_id,
        academy=viewer.academy,
    )
    occurrences = series.occurrences.select_related("session_type").order_by("starts_at")
    return render(
        request,
        "bookings/series.html",
        {
            "series": series,
            "coaches": ", ".join(c.display_name for c in series.coaches.all()) or "No coach",
            "occurrences": occurrences,
            "now": timezone.now(),
        },
    )


# -- a coach's own sessions ----------------------------------------------------------------------


@login_required
def coach_sessions(request: HttpRequest) -> HttpResponse:
    viewer = viewer_for(request, Role.COACH)
    coach = _own_coach(request, viewer)
    today = timezone.localdate(timezone.now(), viewer.academy.tz)
    start, end = selectors.day_range(viewer.academy, today, 28)
    sessions = selectors.sessions_between(
        viewer.academy.pk, start, end, coach_id=coach.pk, include_lessons=False
    )
    by_day: dict[date, list[selectors.SessionView]] = {}
    for s in sessions:
        by_day.setdefault(s.starts_at.astimezone(viewer.academy.tz).date(), []).append(s)
    return render(request, "bookings/coach_sessions.html", {"coach": coach, "days": by_day})
