"""The waiting list (bookings.services.waitlist and the operations that free spots): joining,
leaving, promotion first come first served in the transaction that freed the spot, offers with a
claim window inside the cut-off, their expiry (lazy and by the command), and every refusal.

Times are passed as `now=`, relative to the world's sessions, so the tests hold at any hour.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta
from io import StringIO

import pytest
from django.core import mail
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone

from bookings.emails.deliver import deliver_due
from bookings.errors import BookingError
from bookings.models import (
    Activity,
    InboxItem,
    OutgoingEmail,
    SessionReservation,
    WaitlistEntry,
)
from bookings.services import (
    expire_offers,
    group_session_cancel,
    group_session_update,
    reservation_cancel,
    reservation_create,
    waitlist_join,
    waitlist_leave,
)
from bookings.services.sessions import plan_of
from bookings.services.waitlist import position
from scheduling.models import Academy, GroupSession
from tests.factories import book, give_emails, make_player, make_user, reserve
from tests.test_services import fresh, refused

pytestmark = pytest.mark.django_db

Status = WaitlistEntry.Status


@pytest.fixture
def world(module_world):
    return module_world


@pytest.fixture
def early(world):
    """Two days before the session: before the cut-off, no horizon or notice in the way."""
    return world.session.starts_at - timedelta(days=2)


@pytest.fixture
def late(world):
    """Two hours before the session: inside the academy's 24-hour cut-off."""
    return world.session.starts_at - timedelta(hours=2)


@pytest.fixture
def full(world):
    """The coach's session (capacity 4) full: Mia, Ada, Kai and one more; Leo may wait."""
    w = world
    w.extra = make_player(w.academy, first="Zed", guardians=[make_user()])
    w.held = {p.pk: reserve(w.session, p) for p in (w.player, w.child2, w.other_child, w.extra)}
    return w.session


def counts(session: GroupSession) -> tuple[int, int, int]:
    s = fresh(session)
    return s.reserved_count, s.held_count, s.waiting_count


def in_line(session: GroupSession) -> list[int]:
    return list(
        WaitlistEntry.objects.filter(session=session, status=Status.WAITING)
        .order_by("id")
        .values_list("player_id", flat=True)
    )


def active(session: GroupSession, player) -> bool:
    return SessionReservation.objects.filter(
        session=session, player=player, status=SessionReservation.Status.RESERVED
    ).exists()


@pytest.fixture
def queue(world, full, early):
    """Three players of families of their own, each put on the list (in this order) by their
    parent."""
    players = []
    for i in range(3):
        parent = make_user()
        player = make_player(world.academy, first=f"W{i}", guardians=[parent])
        waitlist_join(player=player, session=full, actor=parent, now=early)
        players.append(player)
    return players


# -- joining and leaving ---------------------------------------------------------------------------


class TestJoin:
    def test_a_parent_puts_a_child_on_a_full_sessions_list(self, world, full, early):
        entry = waitlist_join(player=world.child, session=full, actor=world.parent_user, now=early)

        entry = fresh(entry)
        assert (entry.status, entry.player, entry.joined_by) == (
            Status.WAITING,
            world.child,
            world.parent_user,
        )
        assert position(entry) == 1
        assert counts(full) == (4, 0, 1)

    def test_places_follow_the_order_of_joining(self, world, full, early, queue):
        entry = waitlist_join(player=world.child, session=full, actor=world.staff_user, now=early)

        assert position(entry) == 4
        assert in_line(full) == [*(p.pk for p in queue), world.child.pk]

    @pytest.mark.parametrize("actor", ["other_parent_user", "coach_user", "foreign_staff_user"])
    def test_not_allowed(self, world, full, early, actor):
        refused(
            "not_allowed",
            waitlist_join,
            player=world.child,
            session=full,
            actor=getattr(world, actor),
            now=early,
        )

    def test_wrong_academy(self, world, early):
        s = world.foreign_session
        reserve(s, world.foreign_child)
        refused(
            "wrong_academy",
            waitlist_join,
            player=world.child,
            session=s,
            actor=world.admin_user,
            now=early,
        )

    def test_session_not_full(self, world, early):
        refused(
            "session_not_full",
            waitlist_join,
            player=world.child,
            session=world.session,
            actor=world.parent_user,
            now=early,
        )

    def test_already_reserved(self, world, full, early):
        refused(
            "already_reserved",
            waitlist_join,
            player=world.child2,
            session=full,
            actor=world.parent_user,
            now=early,
        )

    def test_already_waiting_names_the_entry(self, world, full, early):
        first = waitlist_join(player=world.child, session=full, actor=world.parent_user, now=early)

        error = refused(
            "already_waiting",
            waitlist_join,
            player=world.child,
            session=full,
            actor=world.staff_user,
            now=early,
        )

        assert error.existing == first

    def test_session_past_and_cancelled(self, world, full):
        refused(
            "session_past",
            waitlist_join,
            player=world.child,
            session=full,
            actor=world.parent_user,
            now=full.starts_at,
        )
        group_session_cancel(
            session=full, actor=world.staff_user, now=full.starts_at - timedelta(1)
        )
        refused(
            "session_cancelled",
            waitlist_join,
            player=world.child,
            session=full,
            actor=world.parent_user,
            now=full.starts_at - timedelta(days=1),
        )

    def test_beyond_horizon_for_families_not_staff(self, world, full):
        far = full.starts_at - timedelta(days=world.academy.booking_horizon_days + 1)
        refused(
            "beyond_horizon",
            waitlist_join,
            player=world.child,
            session=full,
            actor=world.parent_user,
            now=far,
        )
        assert waitlist_join(player=world.child, session=full, actor=world.staff_user, now=far)

    def test_player_busy(self, world, full, early):
        book(world.coach2, world.child, world.lesson_type, full.starts_at)
        refused(
            "player_busy",
            waitlist_join,
            player=world.child,
            session=full,
            actor=world.parent_user,
            now=early,
        )

    def test_not_eligible(self, world, full, early):
        t = full.session_type
        t.max_age = 17
        t.save()
        world.child.birth_date = date(1990, 1, 1)
        world.child.save()

        error = refused(
            "not_eligible",
            waitlist_join,
            player=world.child,
            session=full,
            actor=world.parent_user,
            now=early,
        )

        assert "ages 17 and under" in error.message and "Leo is" in error.message


class TestLeave:
    def test_leaving_moves_everyone_behind_up(self, world, full, early, queue):
        first = WaitlistEntry.objects.get(player=queue[0], session=full)
        parent = queue[0].guardians.get()

        left = waitlist_leave(player=queue[0], session=full, actor=parent, now=early)

        assert fresh(left).status == Status.LEFT and fresh(left).ended_by == parent
        assert left.pk == first.pk
        assert in_line(full) == [queue[1].pk, queue[2].pk]
        assert position(WaitlistEntry.objects.get(player=queue[1], session=full)) == 1
        assert counts(full) == (4, 0, 2)

    def test_staff_may_take_a_player_off(self, world, full, early, queue):
        waitlist_leave(player=queue[1], session=full, actor=world.staff_user, now=early)
        assert in_line(full) == [queue[0].pk, queue[2].pk]

    def test_not_waiting(self, world, full, early):
        refused(
            "not_waiting",
            waitlist_leave,
            player=world.child,
            session=full,
            actor=world.parent_user,
            now=early,
        )

    def test_not_allowed(self, world, full, early, queue):
        refused(
            "not_allowed",
            waitlist_leave,
            player=queue[0],
            session=full,
            actor=world.other_parent_user,
            now=early,
        )


# -- promotion -----------------------------------------------------------------------------------


class TestPromotion:
    def test_a_cancellation_promotes_the_first_in_the_same_transaction(
        self, world, full, early, queue
    ):
        first = WaitlistEntry.objects.get(player=queue[0], session=full)
        parent = queue[0].guardians.get()

        reservation_cancel(
            reservation=world.held[world.player.pk], actor=world.player_user, now=early
        )

        assert fresh(first).status == Status.PROMOTED
        promoted = SessionReservation.objects.get(session=full, player=queue[0])
        assert promoted.is_active and promoted.reserved_by == parent  # who asked for it
        assert in_line(full) == [queue[1].pk, queue[2].pk]
        assert counts(full) == (4, 0, 2)

    def test_a_capacity_increase_promotes_in_order(self, world, full, early, queue):
        plan = replace(plan_of(full), capacity=6)

        group_session_update(session=full, plan=plan, actor=world.staff_user, now=early)

        assert [active(full, p) for p in queue] == [True, True, False]
        assert counts(full) == (6, 0, 1)

    def test_the_first_who_may_take_it_gets_it(self, world, full, early, queue):
        """Not eligible any more (a birthday), or busy at that time: skipped, kept in line."""
        t = full.session_type
        t.max_age = 17
        t.save()
        for p in queue:
            p.birth_date = date.today() - timedelta(days=365 * 12)
            p.save()
        queue[0].birth_date = date(1990, 1, 1)
        queue[0].save()
        book(world.coach2, queue[1], world.lesson_type, full.starts_at)

        reservation_cancel(
            reservation=world.held[world.player.pk], actor=world.staff_user, now=early
        )

        assert [active(full, p) for p in queue] == [False, False, True]
        assert in_line(full) == [queue[0].pk, queue[1].pk]

    def test_nobody_is_promoted_into_a_session_that_has_started(self, world, full, queue):
        reservation_cancel(
            reservation=world.held[world.player.pk],
            actor=world.staff_user,
            now=full.starts_at + timedelta(minutes=5),
        )

        assert not any(active(full, p) for p in queue)
        assert counts(full) == (3, 0, 3)

    def test_cancelling_the_session_closes_its_list(self, world, full, early, queue):
        group_session_cancel(session=full, actor=world.staff_user, now=early)

        statuses = set(WaitlistEntry.objects.filter(session=full).values_list("status", flat=True))
        assert statuses == {Status.CLOSED}
        assert counts(full) == (0, 0, 0)

    def test_a_waiting_player_reserving_a_free_spot_leaves_the_list(self, world, full, early):
        """A spot nobody waiting could take (busy then) stays free; when the waiting player is
        free again and reserves it, their entry ends: never both reserved and waiting."""
        entry = waitlist_join(player=world.child, session=full, actor=world.parent_user, now=early)
        lesson = book(world.coach2, world.child, world.lesson_type, full.starts_at)
        reservation_cancel(
            reservation=world.held[world.player.pk], actor=world.staff_user, now=early
        )
        assert counts(full) == (3, 0, 1) and fresh(entry).status == Status.WAITING
        lesson.delete()

        reservation_create(player=world.child, session=full, actor=world.parent_user, now=early)

        assert fresh(entry).status == Status.PROMOTED
        assert counts(full) == (4, 0, 0)

    def test_before_the_cutoff_promotion_is_automatic_even_in_offer_mode(
        self, world, full, early, queue
    ):
        Academy.objects.filter(pk=world.academy.pk).update(late_waitlist="offer")
        reservation_cancel(
            reservation=world.held[world.player.pk], actor=world.staff_user, now=early
        )
        assert active(full, queue[0])


# -- offers inside the cut-off ---------------------------------------------------------------


@pytest.fixture
def offer_mode(world):
    Academy.objects.filter(pk=world.academy.pk).update(late_waitlist="offer", offer_minutes=60)


class TestOffers:
    def offered(self, world, full, late):
        reservation_cancel(
            reservation=world.held[world.player.pk], actor=world.staff_user, now=late
        )
        return WaitlistEntry.objects.get(session=full, status=Status.OFFERED)

    def test_inside_the_cutoff_the_spot_is_offered_and_held(
        self, world, full, late, queue, offer_mode
    ):
        offer = self.offered(world, full, late)

        assert offer.player == queue[0]
        assert offer.offered_until == late + timedelta(minutes=60)
        assert counts(full) == (3, 1, 2)
        # Held: nobody else may take it.
        refused(
            "session_full",
            reservation_create,
            player=world.child,
            session=full,
            actor=world.staff_user,
            now=late,
        )

    def test_the_offer_never_runs_past_the_start(self, world, full, queue, offer_mode):
        Academy.objects.filter(pk=world.academy.pk).update(offer_minutes=600)
        offer = self.offered(world, full, full.starts_at - timedelta(hours=2))
        assert offer.offered_until == full.starts_at

    def test_the_family_claims_it(self, world, full, late, queue, offer_mode):
        offer = self.offered(world, full, late)
        parent = queue[0].guardians.get()

        reservation_create(player=queue[0], session=full, actor=parent, now=late)

        assert fresh(offer).status == Status.PROMOTED
        assert counts(full) == (4, 0, 2)

    def test_declining_offers_it_to_the_next(self, world, full, late, queue, offer_mode):
        offer = self.offered(world, full, late)

        waitlist_leave(player=queue[0], session=full, actor=queue[0].guardians.get(), now=late)

        assert fresh(offer).status == Status.LEFT
        assert WaitlistEntry.objects.get(session=full, status=Status.OFFERED).player == queue[1]
        assert counts(full) == (3, 1, 1)

    def test_a_lapsed_offer_passes_on_by_the_command_once(
        self, world, full, late, queue, offer_mode
    ):
        offer = self.offered(world, full, late)
        after = offer.offered_until + timedelta(seconds=1)

        assert expire_offers(now=after) == 1
        assert expire_offers(now=after) == 0  # idempotent: nothing left to do

        assert fresh(offer).status == Status.EXPIRED
        assert WaitlistEntry.objects.get(session=full, status=Status.OFFERED).player == queue[1]
        assert counts(full) == (3, 1, 1)

    def test_a_lapsed_offer_cannot_be_claimed_and_passes_on_at_the_next_change(
        self, world, full, late, queue, offer_mode
    ):
        offer = self.offered(world, full, late)
        after = offer.offered_until + timedelta(seconds=1)
        parent = queue[0].guardians.get()

        refused(
            "offer_lapsed",
            reservation_create,
            player=queue[0],
            session=full,
            actor=parent,
            now=after,
        )
        # Anything that may free a spot settles the list first (here: someone else leaves).
        waitlist_leave(player=queue[2], session=full, actor=queue[2].guardians.get(), now=after)

        assert fresh(offer).status == Status.EXPIRED
        assert WaitlistEntry.objects.get(session=full, status=Status.OFFERED).player == queue[1]
        assert counts(full) == (3, 1, 0)

    def test_the_last_offer_lapsing_frees_the_spot(self, world, full, late, offer_mode):
        waitlist_join(player=world.child, session=full, actor=world.parent_user, now=late)
        offer = self.offered(world, full, late)
        after = offer.offered_until + timedelta(seconds=1)
        refused(
            "session_full",
            reservation_create,
            player=world.player,
            session=full,
            actor=world.staff_user,
            now=after,
        )

        expire_offers(now=after)
        reservation_create(player=world.player, session=full, actor=world.staff_user, now=after)

        assert fresh(offer).status == Status.EXPIRED
        assert counts(full) == (4, 0, 0)

    def test_the_command(self, world, full, late, queue, offer_mode, monkeypatch):
        offer = self.offered(world, full, late)
        out = StringIO()
        monkeypatch.setattr(
            "bookings.services.waitlist.timezone.now",
            lambda: offer.offered_until + timedelta(minutes=1),
        )

        call_command("expire_waitlist_offers", stdout=out)

        assert "Expired 1 waiting list offer" in out.getvalue()
        assert fresh(offer).status == Status.EXPIRED


def test_capacity_cannot_drop_below_reservations_and_offers(world, full, late, queue, offer_mode):
    reservation_cancel(reservation=world.held[world.player.pk], actor=world.staff_user, now=late)
    error = refused(
        "capacity_below_reservations",
        group_session_update,
        session=full,
        plan=replace(plan_of(full), capacity=3),
        actor=world.staff_user,
        now=late,
    )

    assert "3 reservations" in error.message and "1 offered" in error.message


def test_a_refusal_writes_nothing_even_after_settling(world, full, late, queue, offer_mode):
    """Refused operations roll back as a whole, the expiry their settling did included."""
    reservation_cancel(reservation=world.held[world.player.pk], actor=world.staff_user, now=late)
    offer = WaitlistEntry.objects.get(session=full, status=Status.OFFERED)
    after = offer.offered_until + timedelta(seconds=1)

    with pytest.raises(BookingError):
        group_session_update(
            session=full,
            plan=replace(plan_of(full), capacity=2),
            actor=world.staff_user,
            now=after,
        )

    assert fresh(offer).status == Status.OFFERED


def test_the_command_fills_a_spot_left_free_with_players_waiting(world, full, early, queue):
    """A spot can be left free while players wait (say the first was busy then, and is free
    again): the command gives it to them."""
    lesson = book(world.coach2, queue[0], world.lesson_type, full.starts_at)
    for p in queue[1:]:
        waitlist_leave(player=p, session=full, actor=p.guardians.get(), now=early)
    reservation_cancel(reservation=world.held[world.player.pk], actor=world.staff_user, now=early)
    assert counts(full) == (3, 0, 1)
    lesson.delete()

    expire_offers(now=early)

    assert active(full, queue[0]) and counts(full) == (4, 0, 0)


# -- who is told beyond the open pages: email and the recent changes --------------------------


def _mail_to(user) -> list[OutgoingEmail]:
    return list(OutgoingEmail.objects.filter(recipient=user).order_by("id"))


def _log_of(session: GroupSession) -> list[tuple[str, int | None]]:
    return list(
        Activity.objects.filter(session=session, verb__in=["promoted", "offered"])
        .order_by("id")
        .values_list("verb", "player_id")
    )


def test_a_promotion_is_emailed_to_the_family_and_logged(world, full, early, queue):
    parent = queue[0].guardians.get()
    give_emails(parent, queue[1].guardians.get())

    reservation_cancel(reservation=world.held[world.player.pk], actor=world.staff_user, now=early)

    [email] = _mail_to(parent)
    assert email.kind == OutgoingEmail.Kind.WAITLIST_PROMOTION
    assert email.about_id == SessionReservation.objects.get(session=full, player=queue[0]).pk
    assert not _mail_to(queue[1].guardians.get())  # still waiting: nothing to tell
    assert _log_of(full) == [("promoted", queue[0].pk)]
    [notice] = InboxItem.objects.filter(user=parent).select_related("announcement")
    assert notice.read_at is None and notice.announcement.sender is None
    assert notice.announcement.text.startswith(f"{queue[0].first_name} moved up")
    assert not InboxItem.objects.filter(user=queue[1].guardians.get()).exists()
    [message] = _sent()
    assert f"{queue[0].first_name} moved up from the waiting list" in message.body


def test_an_offer_is_emailed_with_its_deadline_and_skipped_once_taken(
    world, full, late, queue, offer_mode
):
    first, second = (p.guardians.get() for p in queue[:2])
    give_emails(first, second)
    reservation_cancel(reservation=world.held[world.player.pk], actor=world.staff_user, now=late)
    offer = WaitlistEntry.objects.get(session=full, status=Status.OFFERED)

    [email] = _mail_to(first)
    assert email.kind == OutgoingEmail.Kind.WAITLIST_OFFER
    assert _log_of(full) == [("offered", queue[0].pk)]
    until = timezone.localtime(offer.offered_until, world.academy.tz).strftime("%H:%M")
    [notice] = InboxItem.objects.filter(user=first).select_related("announcement")
    assert "is held for" in notice.announcement.text and until in notice.announcement.text
    [message] = _sent()
    assert message.subject.startswith("A place is held for you")
    assert until in message.body and "held for" in message.body

    # Declined: the next family is offered it, and told; the first's email is not sent again.
    waitlist_leave(player=queue[0], session=full, actor=first, now=late)
    [next_email] = _mail_to(second)
    assert next_email.kind == OutgoingEmail.Kind.WAITLIST_OFFER
    assert [m.to for m in _sent()] == [[second.email]]


def test_an_offer_no_longer_open_at_sending_time_is_skipped(world, full, late, queue, offer_mode):
    first = queue[0].guardians.get()
    give_emails(first)
    reservation_cancel(reservation=world.held[world.player.pk], actor=world.staff_user, now=late)
    reservation_create(player=queue[0], session=full, actor=first, now=late)  # taken at once

    assert _sent() == []
    assert _mail_to(first)[0].status == OutgoingEmail.Status.SKIPPED


def _sent() -> list:
    before = len(mail.outbox)
    deliver_due()
    return mail.outbox[before:]


def test_the_family_reads_the_notice_in_its_inbox(client, world, full, early, queue):
    parent = queue[0].guardians.get()
    reservation_cancel(reservation=world.held[world.player.pk], actor=world.staff_user, now=early)

    client.force_login(parent)
    page = client.get(reverse("inbox")).content.decode()

    assert "The academy</strong>" in page and f"about {full.display_title}" in page
    assert f"{queue[0].first_name} moved up from the waiting list" in page
