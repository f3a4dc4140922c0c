"""The inbox (everyone's), and sending an announcement (coaches and the front desk)."""

from __future__ import annotations

from datetime import date

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from bookings import selectors
from bookings.context import viewer_for
from bookings.dates import parse_date
from bookings.errors import BookingError
from bookings.models import Announcement
from bookings.services.announcements import announcement_send, inbox_mark_read
from bookings.views.act_form import page_fragments
from bookings.views.requests import SignedInRequest
from scheduling.models import GroupSession


@login_required
def inbox(request: SignedInRequest) -> HttpResponse:
    user_id = request.user.pk or 0
    return render(
        request,
        "bookings/inbox.html",
        {**page_fragments(request, {}), "items": selectors.inbox(user_id)},
    )


@require_POST
@login_required
def inbox_read(request: SignedInRequest) -> HttpResponse:
    count = inbox_mark_read(actor=request.user)
    if count:
        messages.success(request, f"Marked {count} message{'s' if count != 1 else ''} as read.")
    return redirect("inbox")


def _sessions_of_day(request: SignedInRequest, day: date) -> list[GroupSession]:
    """The sessions of a day this viewer may write to (a coach: their own)."""
    viewer = viewer_for(request)
    start, end = selectors.day_range(viewer.academy, day)
    sessions = GroupSession.objects.filter(
        academy=viewer.academy,
        status=GroupSession.Status.SCHEDULED,
        starts_at__lt=end,
        ends_at__gt=start,
    ).select_related("session_type")
    if not viewer.principal.manages(viewer.academy.pk):
        sessions = sessions.filter(
            assignments__coach_id__in=viewer.principal.coach_ids_in(viewer.academy.pk)
        )
    return list(sessions.order_by("starts_at", "id"))


@login_required
def announce(request: SignedInRequest) -> HttpResponse:
    viewer = viewer_for(request)
    academy = viewer.academy
    is_staff = viewer.principal.manages(academy.pk)
    if not (is_staff or viewer.principal.coach_ids_in(academy.pk)):
        raise PermissionDenied("Only coaches and the front desk send announcements.")
    today = timezone.now().astimezone(academy.tz).date()
    raw_day = request.POST.get("date") or request.GET.get("date") or ""
    day = parse_date(raw_day) if raw_day else today
    if day is None:
        messages.error(request, "That is not a date we can show; showing today.")
        day = today
    form = {"audience": "session", "session": request.GET.get("session", ""), "text": ""}
    if request.method == "POST":
        form = {key: request.POST.get(key, "") for key in ("audience", "session", "text")}
        session = None
        if form["audience"] == "session":
            if not (form["session"].isascii() and form["session"].isdigit()):
                messages.error(request, "Choose a session.")
                return _compose(request, day, form, is_staff, status=400)
            session = get_object_or_404(GroupSession, pk=int(form["session"]))
        elif form["audience"] not in ("day", "academy") or not is_staff:
            messages.error(request, "Choose who the message is for.")
            return _compose(request, day, form, is_staff, status=400)
        try:
            sent = announcement_send(
                actor=request.user,
                academy=academy,
                text=form["text"],
                session=session,
                day=day if form["audience"] == "day" else None,
            )
        except BookingError as error:
            messages.error(request, error.message)
            status = 403 if error.code in ("not_allowed", "wrong_academy") else 400
            return _compose(request, day, form, is_staff, status=status)
        reached = sent.deliveries.count()
        messages.success(request, f"Sent to {reached} {'person' if reached == 1 else 'people'}.")
        return redirect(f"{request.path}?date={day.isoformat()}")
    return _compose(request, day, form, is_staff)


def _compose(
    request: SignedInRequest, day: date, form: dict[str, str], is_staff: bool, status: int = 200
) -> HttpResponse:
    return render(
        request,
        "bookings/announce.html",
        {
            "day": day,
            "sessions": _sessions_of_day(request, day),
            "form": form,
            "is_staff": is_staff,
            "max_text": Announcement.MAX_TEXT,
            "sent": Announcement.objects.filter(sender=request.user).select_related(
                "session__session_type"
            )[:10],
        },
        status=status,
    )
