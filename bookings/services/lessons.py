"""Booking an individual lesson in one of a coach's free slots, and cancelling it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from django.contrib.auth.models import User
from django.db import IntegrityError, transaction
from django.utils import timezone

from bookings import emails, selectors
from bookings.access import Principal, may_book_for
from bookings.errors import BookingError
from bookings.locks import lock
from bookings.models import IndividualBooking, Player
from bookings.services.activity import Verb, record
from bookings.services.common import (
    check_cutoff,
    mark_cancelled,
    player_busy,
    remember,
    replayed,
)
from scheduling.models import Coach, Court, SessionType
from scheduling.slots import SlotStatus


def individual_booking_create(
    *,
    player: Player,
    coach: Coach,
    session_type: SessionType,
    starts_at: datetime,
    actor: User,
    court: Court | None = None,
    idempotency_key: str | None = None,
    now: datetime | None = None,
) -> IndividualBooking:
    principal = Principal.load(actor)
    if not may_book_for(principal, player):
        raise BookingError("not_allowed")
    academy_ids = {player.academy_id, coach.academy_id, session_type.academy_id}
    if court is not None:
        academy_ids.add(court.academy_id)
    if len(academy_ids) != 1:
        raise BookingError("wrong_academy")
    if session_type.kind != SessionType.Kind.INDIVIDUAL:
        raise BookingError("not_individual")
    if not coach.is_active:
        raise BookingError("slot_unavailable")
    privileged = principal.manages(player.academy_id)
    # In UTC: a lesson lasts its real duration even across a DST change, and comparing in UTC
    # tells the two 01:00s of an autumn night apart (same-zone comparisons ignore `fold`).
    starts_at = starts_at.astimezone(UTC)
    ends_at = starts_at + timedelta(minutes=session_type.duration_minutes)

    with transaction.atomic():
        locked = lock(
            coaches=[coach.pk],
            players=[player.pk],
            courts=[court.pk] if court is not None else [],
        )
        coach = locked.coaches[coach.pk]
        replay = replayed(actor, idempotency_key, "individual_booking_create", IndividualBooking)
        if replay is not None:
            return replay

        now = now or timezone.now()
        local_day = starts_at.astimezone(coach.academy.tz).date()
        slots = selectors.lesson_slots(
            coach, session_type, local_day, now=now, enforce_notice=not privileged
        )
        slot = next((s for s in slots if s.starts_at.astimezone(UTC) == starts_at), None)
        if slot is None:
            raise BookingError("slot_unavailable")
        if slot.status == SlotStatus.PAST:
            raise BookingError("session_past")
        if slot.status == SlotStatus.TAKEN:
            lesson_clash = IndividualBooking.objects.filter(
                coach=coach,
                status=IndividualBooking.Status.BOOKED,
                starts_at__lt=ends_at,
                ends_at__gt=starts_at,
            ).exists()
            raise BookingError("slot_taken" if lesson_clash else "coach_busy")
        if slot.status == SlotStatus.CLOSED:
            too_far = starts_at > coach.academy.horizon(now)
            raise BookingError("beyond_horizon" if too_far else "too_soon")
        if player_busy(player, starts_at, ends_at):
            raise BookingError("player_busy")
        if court is not None and selectors.court_clash(court, starts_at, ends_at) is not None:
            raise BookingError("court_busy")

        try:
            with transaction.atomic():
                booking = IndividualBooking.objects.create(
                    academy_id=player.academy_id,
                    coach=coach,
                    player=player,
                    session_type=session_type,
                    court=court,
                    starts_at=starts_at,
                    ends_at=ends_at,
                    booked_by=actor,
                )
        except IntegrityError as exc:  # the exclusion constraints, the last guard
            raise BookingError("slot_taken") from exc
        record(
            verb=Verb.BOOKED,
            academy_id=booking.academy_id,
            actor_id=actor.pk,
            at=now,
            player_id=player.pk,
            lesson_id=booking.pk,
        )
        remember(actor, idempotency_key, "individual_booking_create", booking)
    return booking


def individual_booking_cancel(
    *, booking: IndividualBooking, actor: User, now: datetime | None = None
) -> IndividualBooking:
    principal = Principal.load(actor)
    family = principal.acts_for(booking.player_id)
    privileged = principal.manages(
        booking.academy_id
    ) or booking.coach_id in principal.coach_ids_in(booking.academy_id)
    if not (family or privileged):
        raise BookingError("not_allowed")

    with transaction.atomic():
        # The coach's lock covers their lessons: every writer of one takes it first.
        lock(coaches=[booking.coach_id])
        booking = IndividualBooking.objects.select_related("academy").get(pk=booking.pk)
        if not booking.is_active:
            raise BookingError("already_cancelled")
        now = now or timezone.now()
        if not privileged:
            check_cutoff(booking.starts_at, booking.academy, now)
        mark_cancelled(booking, actor, now)
        if not family:  # a family knows what it did itself
            emails.lesson_cancelled(booking=booking, actor=actor)
        record(
            verb=Verb.CANCELLED,
            academy_id=booking.academy_id,
            actor_id=actor.pk,
            at=now,
            player_id=booking.player_id,
            lesson_id=booking.pk,
        )
    return booking
