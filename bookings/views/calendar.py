"""A calendar card's details: the session or lesson with its attendees (names only where
bookings.access allows), check-in state, and the actions the viewer may take. A full page
without JS; the panel beside the calendar when htmx asks (HX-Request)."""

from __future__ import annotations

from datetime import datetime, tzinfo

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.utils import timezone

from bookings import access, selectors
from bookings.access import principal_for
from bookings.context import viewer_for
from bookings.models import IndividualBooking
from scheduling.models import GroupSession
from scheduling.times import time_range


def _details(
    request: HttpRequest,
    view: selectors.SessionView,
    academy_tz: tzinfo,
    names: bool,
    **extra: object,
) -> HttpResponse:
    viewer_for(request)  # the menu
    with timezone.override(academy_tz):
        context = {
            "s": view,
            "names": names,
            "when": time_range(
                view.starts_at.astimezone(academy_tz), view.ends_at.astimezone(academy_tz)
            ),
            "now": timezone.now(),
            "panel": request.headers.get("HX-Request") == "true",
            **extra,
        }
        template = "bookings/calendar_details.html"
        if context["panel"]:
            template += "#details"
        return render(request, template, context)


def _cancelled(
    request: HttpRequest, title: str, starts_at: datetime, ends_at: datetime, academy_tz: tzinfo
) -> HttpResponse:
    viewer_for(request)
    with timezone.override(academy_tz):
        template = "bookings/calendar_details.html"
        if request.headers.get("HX-Request") == "true":
            template += "#gone"
        return render(
            request,
            template,
            {
                "cancelled": True,
                "title": title,
                "starts_at": starts_at,
                "when": time_range(
                    starts_at.astimezone(academy_tz), ends_at.astimezone(academy_tz)
                ),
                "panel": request.headers.get("HX-Request") == "true",
            },
        )


@login_required
def session_details(request: HttpRequest, session_id: int) -> HttpResponse:
    session = get_object_or_404(GroupSession.objects.select_related("academy"), pk=session_id)
    principal = principal_for(request)
    if not access.reads_calendar_details(principal, session.academy_id):
        raise Http404("No such session.")  # another academy's: not even that it exists
    names = access.sees_session_names(principal, session)
    found = selectors.sessions_between(
        session.academy_id,
        None,
        None,
        include_lessons=False,
        session_ids=[session.pk],
        all_names=names,
    )
    if not found:  # cancelled (where a no-JS cancel returns to): say so
        return _cancelled(
            request, session.display_title, session.starts_at, session.ends_at, session.academy.tz
        )
    return _details(
        request,
        found[0],
        session.academy.tz,
        names,
        may_edit=access.edits_session(principal, session),
        may_cancel=principal.manages(session.academy_id)
        or access.coaches_session(principal, session),
    )


@login_required
def lesson_details(request: HttpRequest, lesson_id: int) -> HttpResponse:
    lesson = get_object_or_404(IndividualBooking.objects.select_related("academy"), pk=lesson_id)
    principal = principal_for(request)
    if not access.reads_calendar_details(principal, lesson.academy_id):
        raise Http404("No such lesson.")
    names = access.sees_lesson_name(principal, lesson)
    found = [
        v
        for v in selectors.sessions_between(
            lesson.academy_id,
            lesson.starts_at,
            lesson.ends_at,
            coach_id=lesson.coach_id,
            all_names=names,
        )
        if v.kind == "lesson" and v.pk == lesson.pk
    ]
    if not found:
        return _cancelled(request, "Lesson", lesson.starts_at, lesson.ends_at, lesson.academy.tz)
    # whoever reads the name may cancel (the service checks again): staff, the coach, the family
    return _details(request, found[0], lesson.academy.tz, names, may_edit=False, may_cancel=names)
