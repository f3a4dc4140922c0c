"""What one reservation or cancellation costs the database, and what it must still tell.

The contended-reservation benchmark is bound by CPU per booking, most of it spent building and
waiting on queries, so the query counts of the hot path are pinned here: a new query on it has to
be a deliberate choice. The rest checks that the shortcuts taken for those counts lose nothing:
the events a booking says (read nothing in its transaction) still route to the same changes and
toasts after COMMIT, a rolled-back savepoint says nothing, and the refusals that come from a
constraint (no savepoint around the insert) still write nothing.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import transaction
from django.db.models.signals import pre_save

from bookings.errors import BookingError
from bookings.live.changes import Change
from bookings.models import IdempotencyKey, Player, SessionReservation
from bookings.services import activity, reservation_cancel, reservation_create
from realtime import publisher
from realtime.events import Event, Note, route
from scheduling.models import GroupSession
from tests.factories import build_world, reserve

# Statements per operation, counted as production runs them (these tests commit for real; the
# log includes BEGIN and COMMIT or ROLLBACK). A reservation is those two and 7 more: the
# principal, the player's lock, the session's lock (with its academy and type), the previous
# reservation, the overlap check, the insert or reactivation, the session's count. A
# cancellation is 2 + 6: the principal, the session's waiting list (its players are locked with
# the session, as a freed spot goes to the first of them in the same transaction), the session's
# lock, the reservation (with its player), its update, the session's count. Who hears of it
# (coaches, guardians) is read after COMMIT, by the publisher, outside the locks. (Before: 2 + 21
# and 2 + 16, then 2 + 8 and 2 + 6, then 2 + 7 and 2 + 5 before the waiting list.) Each also
# writes its line of the activity log (bookings.services.activity): who did it, in the same
# transaction, for the front desk's recent changes and the coach's activity; and its event's row
# of the outbox (realtime.outbox), so the change is published even if this process dies.
RESERVE = 2 + 7 + 1 + 1
CANCEL = 2 + 6 + 1 + 1
# The benchmark's most common outcome: the principal, the two locks, the previous reservation.
REFUSED_FULL = 2 + 4

# Real transactions: COMMIT runs the capture's publish, and each test starts from a fresh world.
pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def world():
    return build_world()


def _fresh(obj):
    obj.refresh_from_db()
    return obj


class TestQueryCounts:
    @pytest.fixture(autouse=True)
    def _no_amortised_prune(self, monkeypatch):
        """The activity log's prune runs on every PRUNE_EVERY-th row id, whichever operation
        writes it (an id the rest of the suite decides): one extra statement, rarely, and not
        the hot path these counts pin."""
        monkeypatch.setattr(activity, "PRUNE_EVERY", 2**62)

    @pytest.mark.parametrize("who", ["player", "parent"])
    def test_reserve_cancel_and_reactivate(self, world, who, django_assert_max_num_queries):
        actor, player = (
            (world.player_user, world.player)
            if who == "player"
            else (world.parent_user, world.child)
        )
        # The caller's objects, as a view or the benchmark holds them: nothing preloaded.
        player = Player.objects.get(pk=player.pk)
        session = GroupSession.objects.get(pk=world.session.pk)
        now = session.starts_at - timedelta(days=2)

        with django_assert_max_num_queries(RESERVE):
            reservation = reservation_create(player=player, session=session, actor=actor, now=now)
        with django_assert_max_num_queries(CANCEL):
            reservation_cancel(reservation=reservation, actor=actor, now=now)
        with django_assert_max_num_queries(RESERVE):  # reactivates the same row
            again = reservation_create(player=player, session=session, actor=actor, now=now)
        # A reservation loaded afresh, without its session: the family need not read it.
        again = SessionReservation.objects.get(pk=again.pk)
        with django_assert_max_num_queries(CANCEL):
            reservation_cancel(reservation=again, actor=actor, now=now)

        assert again.pk == reservation.pk
        assert not _fresh(again).is_active
        assert _fresh(session).reserved_count == 0

    def test_a_full_session_is_refused_cheaply(self, world, django_assert_max_num_queries):
        session = GroupSession.objects.get(pk=world.session.pk)
        for player in (world.child, world.child2, world.other_child, world.foreign_child):
            reserve(session, player)  # capacity 4: full
        now = session.starts_at - timedelta(days=2)

        with (
            django_assert_max_num_queries(REFUSED_FULL),
            pytest.raises(BookingError, match="full"),
        ):
            reservation_create(
                player=world.player, session=session, actor=world.player_user, now=now
            )


# -- what a booking still tells -------------------------------------------------------------------


@pytest.fixture
def published(monkeypatch):
    """Every batch of events handed to the publisher after COMMIT."""
    sent: list[list[Event]] = []

    class Recorder:
        def submit(self, events, notes=None, outbox_ids=None):  # type: ignore[no-untyped-def]
            sent.append(events)

        def wait_idle(self, timeout):  # type: ignore[no-untyped-def]
            return True

    monkeypatch.setattr(publisher, "get_publisher", lambda: Recorder())
    return sent


def test_changes_and_toasts_are_as_informative_as_before(world, published):
    """A booking says one event, from the reservation row alone; routed after COMMIT, it gives
    the same change (its session's day, coach, player, family) and the same toasts as before,
    for the family, a coach and the front desk."""
    w = world
    session, coach_user = w.session, w.coach_user
    day = session.starts_at.astimezone(w.academy.tz).date()
    when = f"{session.starts_at.astimezone(w.academy.tz):%a %H:%M}"
    title = session.display_title
    now = session.starts_at - timedelta(days=2)

    def change_of(player, guardians):
        return Change(
            w.academy.pk,
            days={day},
            coach_ids={w.coach.pk},
            player_ids={player.pk},
            guardian_ids=guardians,
            group_sessions=True,
            session_ids={session.pk},
            occupancy_only=True,
            activity=True,
        )

    def step(operation, **kwargs):
        published.clear()
        result = operation(**kwargs)
        assert len(published) == 1 and len(published[0]) == 1  # one event, after COMMIT
        assert published[0][0].name == "reservation"
        routing = route(published[0])
        return result, (routing.changes, routing.notes)

    r, sent = step(
        reservation_create, player=w.child, session=session, actor=w.parent_user, now=now
    )
    assert sent == (
        [change_of(w.child, {w.parent_user.pk})],
        [Note(coach_user.pk, f"New booking: Leo, {when} {title}")],
    )

    _, sent = step(reservation_cancel, reservation=r, actor=w.coach_user, now=now)
    assert sent == (
        [change_of(w.child, {w.parent_user.pk})],
        [Note(w.parent_user.pk, f"{w.coach.display_name} cancelled {title} on {when} for Leo.")],
    )

    r, sent = step(
        reservation_create, player=w.player, session=session, actor=w.player_user, now=now
    )
    assert sent == (
        [change_of(w.player, set())],
        [Note(coach_user.pk, f"New booking: Mia, {when} {title}")],
    )

    _, sent = step(reservation_cancel, reservation=r, actor=w.player_user, now=now)
    assert sent == (
        [change_of(w.player, set())],
        [Note(coach_user.pk, f"Cancelled: Mia, {when} {title}")],
    )

    r, _ = step(reservation_create, player=w.child2, session=session, actor=w.parent_user, now=now)
    _, sent = step(reservation_cancel, reservation=r, actor=w.staff_user, now=now)
    assert sent == (
        [change_of(w.child2, {w.parent_user.pk})],
        [
            Note(w.parent_user.pk, f"The academy cancelled {title} on {when} for Ada."),
            # The coach hears of it too, whoever cancelled (issue 12).
            Note(coach_user.pk, f"The academy cancelled Ada, {when} {title}"),
        ],
    )


def test_a_rolled_back_savepoint_says_nothing(world, published):
    now = world.session.starts_at - timedelta(days=2)
    with transaction.atomic():
        with pytest.raises(RuntimeError), transaction.atomic():
            reservation_create(
                player=world.player, session=world.session, actor=world.player_user, now=now
            )
            raise RuntimeError  # undoes the reservation, and what it said
        reservation_create(
            player=world.child, session=world.session, actor=world.parent_user, now=now
        )
    assert [[e.data["player"] for e in events] for events in published] == [[world.child.pk]]


# -- refusals from a constraint, now without a savepoint around the insert ------------------------


def _snapshot() -> dict[str, list[dict]]:
    models = (SessionReservation, GroupSession, IdempotencyKey)
    return {m.__name__: list(m.objects.order_by("pk").values()) for m in models}


@pytest.fixture
def slipped_in():
    """Make a row appear right before the service's own insert of the same kind, in the same
    transaction and past every check (as a writer that skipped the locks would), so that only
    the database's unique constraint can refuse the service's insert."""
    connected = []

    def arrange(model, make):
        def receiver(sender, instance, **kwargs):
            if instance.pk is None:
                model.objects.bulk_create([make()])  # no signals: not a second trigger

        pre_save.connect(receiver, sender=model, weak=False, dispatch_uid="slipped-in")
        connected.append(model)

    yield arrange
    for model in connected:
        pre_save.disconnect(sender=model, dispatch_uid="slipped-in")


class TestConstraintRefusals:
    def test_the_unique_reservation_constraint_still_refuses(self, world, slipped_in):
        session, player = world.session, world.player
        slipped_in(
            SessionReservation,
            lambda: SessionReservation(session_id=session.pk, player_id=player.pk),
        )
        before = _snapshot()
        with pytest.raises(BookingError) as info:
            reservation_create(
                player=player,
                session=session,
                actor=world.player_user,
                now=session.starts_at - timedelta(days=2),
            )
        assert info.value.code == "already_reserved"
        assert _snapshot() == before  # everything rolled back, and the connection still works

    def test_the_unique_key_constraint_still_refuses(self, world, slipped_in):
        session, player, user = world.session, world.player, world.player_user
        slipped_in(
            IdempotencyKey,
            lambda: IdempotencyKey(user=user, key="k1", operation="other", object_id=0),
        )
        before = _snapshot()
        with pytest.raises(BookingError) as info:
            reservation_create(
                player=player,
                session=session,
                actor=user,
                idempotency_key="k1",
                now=session.starts_at - timedelta(days=2),
            )
        assert info.value.code == "not_allowed"
        assert _snapshot() == before
