"""A family rates a session one of them attended: 1 to 5, with an optional comment, once per
attendance (changed, not added to, by a second rating), while bookings.windows.rating_open."""

from __future__ import annotations

from datetime import datetime

from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from bookings.access import Principal
from bookings.errors import BookingError
from bookings.locks import lock
from bookings.models import Attendance, Feedback, IndividualBooking, SessionReservation
from bookings.services.activity import Verb, record
from bookings.windows import rating_open


def clean_comment(raw: str) -> str:
    """A comment as it is kept: trimmed, line endings as one. (Control characters never reach
    here: config.security refuses them; the template escapes the rest.)"""
    return raw.replace("\r\n", "\n").strip()


def feedback_save(
    *,
    attendance: Attendance,
    actor: User,
    rating: int,
    comment: str = "",
    now: datetime | None = None,
) -> Feedback:
    principal = Principal.load(actor)
    if not principal.acts_for(attendance.player_id):
        raise BookingError("not_allowed")
    if not isinstance(rating, int) or isinstance(rating, bool) or not 1 <= rating <= 5:
        raise BookingError("bad_rating")
    comment = clean_comment(comment)
    if len(comment) > Feedback.MAX_COMMENT:
        raise BookingError("comment_too_long")

    with transaction.atomic():
        # The player's lock: the family's two guardians rating at once write one after the other.
        lock(players=[attendance.player_id])
        attendance = Attendance.objects.select_related("session", "lesson", "reservation").get(
            pk=attendance.pk
        )
        held = attendance.session or attendance.lesson
        assert held is not None
        still_booked = (
            attendance.reservation.status == SessionReservation.Status.RESERVED
            if attendance.reservation is not None
            else attendance.lesson is not None
            and attendance.lesson.status == IndividualBooking.Status.BOOKED
        )
        if not attendance.attended or not still_booked:
            raise BookingError("not_attended")
        now = now or timezone.now()
        if not rating_open(held.starts_at, held.ends_at, now):
            raise BookingError("rating_closed")
        feedback = Feedback.objects.filter(attendance=attendance).first()
        if feedback is not None and (feedback.rating, feedback.comment) == (rating, comment):
            return feedback  # a repeat: nothing changed
        feedback = feedback or Feedback(attendance=attendance)
        feedback.rating, feedback.comment, feedback.author = rating, comment, actor
        feedback.save()
        record(
            verb=Verb.RATED,
            academy_id=held.academy_id,
            actor_id=actor.pk,
            at=now,
            player_id=attendance.player_id,
            session_id=attendance.session_id,
            lesson_id=attendance.lesson_id,
            detail=str(rating),
        )
    return feedback
