"""The waiting list of a full group session: joining it, leaving it, and who gets a freed spot.

A spot frees when a reservation is cancelled, the capacity goes up, or an offered spot is
declined or lapses. `settle` then gives it to the first waiting player who may take it, first
come first served, in the same transaction as the change that freed it and under the session's
row lock, so both commit or neither, and two freed spots never go to one player. Before the
academy's cancellation cut-off the player is promoted at once (the family can still cancel
online); inside it the academy chooses: promote, or offer the spot for a claim window
(`Academy.late_waitlist`, `offer_minutes`). Nobody is promoted into a session that has started.

Locks: a promotion writes a reservation for another player, whose own operations take their
player row's lock before the session's. So every operation that may free a spot reads the
session's queue first and locks those players with the session, in the one lock order
(`locked_with_queue`); `settle` promotes only players whose locks it holds. Someone who joined
after that read is behind everyone read, so they are needed only if nobody ahead could take
the spot: then the spot waits for the next settle.

An offer that lapses needs nobody's request: operations that lock the queue (a cancellation,
leaving, an edit) expire lapsed offers first, a lapsed offer can no longer be claimed, and
`manage.py expire_waitlist_offers` (safe to run every minute from cron, and as often as you
like) settles every session holding a lapsed offer, or a free spot with players waiting.
Each settles under the session's lock and re-reads under it, so nothing happens twice.

Who hears of it: the family, on their open pages (the entry's own save: a toast, their lists)
and by email (bookings.emails, queued in the same transaction); the front desk and the coach in
their recent changes (bookings.services.activity).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from datetime import datetime

from django.contrib.auth.models import User
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from bookings import emails
from bookings.access import Principal, coaches_session
from bookings.errors import BookingError
from bookings.locks import Locked, lock
from bookings.models import Player, SessionReservation, WaitlistEntry
from bookings.services.activity import Verb, record
from bookings.services.announcements import family_notice
from bookings.services.common import (
    activate_reservation,
    authorize_booking,
    check_eligible,
    check_open,
    latest_reservation,
    move_counts,
    player_busy,
    remember,
    replayed,
)
from scheduling.models import GroupSession
from scheduling.times import day_and_time

Status = WaitlistEntry.Status


@dataclass
class Settled:
    """What one `settle` did."""

    expired: list[WaitlistEntry] = field(default_factory=list)
    promoted: list[WaitlistEntry] = field(default_factory=list)
    offered: list[WaitlistEntry] = field(default_factory=list)


def queue_of(session_ids: Iterable[int]) -> list[int]:
    """The players of these sessions' open waiting list entries, read before their locks."""
    return list(
        WaitlistEntry.objects.filter(
            session_id__in=list(session_ids), status__in=WaitlistEntry.OPEN
        ).values_list("player_id", flat=True)
    )


def locked_with_queue(
    *,
    sessions: list[int],
    coaches: Iterable[int] = (),
    courts: Iterable[int] = (),
    series: Iterable[int] = (),
) -> Locked:
    """Lock these sessions with every player on their waiting lists (and the other rows an
    operation needs), in the one lock order: what an operation that may free a spot takes."""
    return lock(
        coaches=coaches,
        players=queue_of(sessions),
        series=series,
        sessions=sessions,
        courts=courts,
    )


def settle(session: GroupSession, *, now: datetime, locked: Collection[int]) -> Settled:
    """Under the session's lock (the caller holds it; `session` is the locked row), with the
    locks of the `locked` players: expire lapsed offers, then fill every free spot from the
    waiting list, in order. The counters move in one UPDATE. Costs no query when nobody waits
    and nothing is offered."""
    done = Settled()
    if not (session.waiting_count or session.held_count):
        return done
    entries = list(
        WaitlistEntry.objects.filter(session=session, status__in=WaitlistEntry.OPEN)
        .select_related("player")
        .order_by("id")
    )
    closed = session.is_cancelled or session.starts_at <= now
    held = waiting = reserved = 0
    for entry in entries:
        if entry.status == Status.OFFERED and (lapsed(entry, now) or closed):
            _end(entry, Status.EXPIRED)
            held -= 1
            done.expired.append(entry)
    free = session.capacity - session.reserved_count - session.held_count - held
    if not closed:
        auto = session.academy.promotes_automatically(session.starts_at, now)
        for entry in entries:
            if free <= 0 or entry.player_id not in locked:
                break  # not locked: joined after the queue was read (see the module's doc)
            if entry.status != Status.WAITING or not _may_take(entry.player, session):
                continue  # the first waiting player who may take it: others keep their place
            if auto:
                previous = latest_reservation(session, entry.player)
                promoted = activate_reservation(session, entry.player, entry.joined_by, previous)
                _end(entry, Status.PROMOTED)
                emails.waitlist_promotion(reservation=promoted)
                _tell(Verb.PROMOTED, entry, session, now)
                reserved += 1
                done.promoted.append(entry)
            else:
                entry.status = Status.OFFERED
                entry.offered_until = session.academy.offer_until(session.starts_at, now)
                entry.save(update_fields=["status", "offered_until", "updated_at"])
                emails.waitlist_offer(entry=entry)
                _tell(Verb.OFFERED, entry, session, now)
                held += 1
                done.offered.append(entry)
            waiting -= 1
            free -= 1
    if held or waiting or reserved:
        move_counts(session, reserved=reserved, held=held, waiting=waiting)
    return done


def _tell(verb: Verb, entry: WaitlistEntry, session: GroupSession, now: datetime) -> None:
    """A promotion or an offer, in the family's inbox (their email is queued by the caller)
    and in the front desk's recent changes and the coach's activity (nobody's action: the
    list's)."""
    tz = session.academy.tz
    when = day_and_time(session.starts_at.astimezone(tz))
    title, first = session.display_title, entry.player.first_name
    if verb == Verb.PROMOTED:
        text = (
            f"{first} moved up from the waiting list: {title}, {when} is booked. If {first} "
            "can no longer come, please cancel, so that the next person gets the place."
        )
    else:
        assert entry.offered_until is not None  # set by the offer just saved
        until = day_and_time(entry.offered_until.astimezone(tz))
        text = (
            f"A place in {title}, {when} is held for {first} until {until}: take it (or "
            "decline it) on your bookings page before then."
        )
    family_notice(session=session, player=entry.player, text=text)
    record(
        verb=verb,
        academy_id=session.academy_id,
        actor_id=None,
        at=now,
        player_id=entry.player_id,
        session_id=session.pk,
    )


def lapsed(entry: WaitlistEntry, now: datetime) -> bool:
    return entry.offered_until is not None and entry.offered_until <= now


def _may_take(player: Player, session: GroupSession) -> bool:
    """Eligible now (a birthday or a new level may have changed it) and free at that time."""
    try:
        check_eligible(player, session)
    except BookingError:
        return False
    return not player_busy(player, session.starts_at, session.ends_at, exclude_session=session.pk)


def _end(entry: WaitlistEntry, status: str, actor: User | None = None) -> None:
    entry.status = status
    entry.ended_by = actor
    entry.save(update_fields=["status", "ended_by", "updated_at"])


def open_entry(session: GroupSession, player: Player) -> WaitlistEntry | None:
    """The player's waiting or offered entry in the session (under its lock), if any."""
    if not (session.waiting_count or session.held_count):
        return None
    return WaitlistEntry.objects.filter(
        session=session, player=player, status__in=WaitlistEntry.OPEN
    ).first()


def position(entry: WaitlistEntry) -> int:
    """1 for the first waiting player (an offered one is no longer in the queue)."""
    return WaitlistEntry.objects.filter(
        session_id=entry.session_id, status=Status.WAITING, id__lte=entry.pk
    ).count()


# -- the operations ----------------------------------------------------------------------------


def waitlist_join(
    *,
    player: Player,
    session: GroupSession,
    actor: User,
    idempotency_key: str | None = None,
    now: datetime | None = None,
) -> WaitlistEntry:
    """Put a player on a full session's waiting list (the player, a guardian, staff)."""
    privileged = authorize_booking(actor, player, session)

    with transaction.atomic():
        locked = lock(players=[player.pk], sessions=[session.pk])
        session = locked.sessions[session.pk]
        replay = replayed(actor, idempotency_key, "waitlist_join", WaitlistEntry)
        if replay is not None:
            return replay
        now = now or timezone.now()
        check_open(session, now, privileged=privileged)
        check_eligible(player, session)
        if SessionReservation.objects.filter(
            session=session, player=player, status=SessionReservation.Status.RESERVED
        ).exists():
            raise BookingError("already_reserved")
        existing = open_entry(session, player)
        if existing is not None:
            raise BookingError("already_waiting", existing=existing)
        if not session.is_full:
            raise BookingError("session_not_full")
        if player_busy(player, session.starts_at, session.ends_at, exclude_session=session.pk):
            raise BookingError("player_busy")
        entry = WaitlistEntry.objects.create(session=session, player=player, joined_by=actor)
        entry.session = session
        move_counts(session, waiting=+1)
        remember(actor, idempotency_key, "waitlist_join", entry)
    return entry


def waitlist_leave(
    *, player: Player, session: GroupSession, actor: User, now: datetime | None = None
) -> WaitlistEntry:
    """Take a player off the waiting list, or decline the spot offered to them (the family,
    staff, the session's coach). A declined spot goes to the next player at once."""
    principal = Principal.load(actor)
    family = principal.acts_for(player.pk)
    if not (family or principal.manages(session.academy_id) or coaches_session(principal, session)):
        raise BookingError("not_allowed")

    with transaction.atomic():
        locked = locked_with_queue(sessions=[session.pk])
        session = locked.sessions[session.pk]
        now = now or timezone.now()
        entry = open_entry(session, player)
        if entry is None:
            raise BookingError("not_waiting")
        offered = entry.status == Status.OFFERED
        _end(entry, Status.LEFT, actor)
        move_counts(session, held=-1 if offered else 0, waiting=0 if offered else -1)
        settle(session, now=now, locked=locked.players.keys())
    entry.session = session
    return entry


def expire_offers(*, now: datetime | None = None) -> int:
    """Settle every session holding a lapsed offer, or a free spot with players waiting for
    it, each in a transaction of its own under its locks (manage.py expire_waitlist_offers).
    Returns the offers expired. Idempotent: a session another process settled meanwhile is
    found with nothing left to do."""
    now = now or timezone.now()
    lapsed_ids = WaitlistEntry.objects.filter(
        status=Status.OFFERED, offered_until__lte=now
    ).values_list("session_id", flat=True)
    gaps = GroupSession.objects.filter(
        status=GroupSession.Status.SCHEDULED,
        starts_at__gt=now,
        waiting_count__gt=0,
        reserved_count__lt=F("capacity") - F("held_count"),
    ).values_list("pk", flat=True)
    expired = 0
    for session_id in sorted({*lapsed_ids, *gaps}):
        try:
            with transaction.atomic():
                locked = locked_with_queue(sessions=[session_id])
                session = locked.sessions.get(session_id)
                if session is not None:
                    done = settle(session, now=now, locked=locked.players.keys())
                    expired += len(done.expired)
        except BookingError:
            continue  # busy: whoever holds the lock settles it, or the next run does
    return expired
