"""Email on real transactions: queued with the change, visible to a sender only after COMMIT,
gone with a ROLLBACK; two senders (or two reminder runs) at once never send one email twice.

Each sender runs in a thread of its own with its own database connection, as `manage.py
send_mail` runs in a process of its own. No mocks: PostgreSQL's isolation, FOR UPDATE SKIP
LOCKED and the unique constraint are what is under test.
"""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.core import mail
from django.db import connection, transaction

from bookings import emails
from bookings.emails.deliver import deliver_all_due, deliver_due
from bookings.emails.reminders import queue_reminders
from bookings.models import OutgoingEmail
from bookings.services import group_session_cancel, reservation_cancel
from tests.factories import build_world, give_emails, make_player, make_user, reserve
from tests.test_races import race

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(60)]


@pytest.fixture(autouse=True)
def _shared_database():
    if connection.vendor == "sqlite" and connection.is_in_memory_db():
        pytest.skip("an in-memory SQLite database is not shared between threads' connections")


@pytest.fixture
def w():
    w = build_world()
    give_emails(w.player_user, w.parent_user, w.other_parent_user, w.staff_user, w.coach_user)
    w.now = w.session.starts_at - timedelta(days=2)
    return w


def elsewhere(work):
    """Run work() in another thread, on its own connection (another process, as it were)."""
    result = []

    def thread():
        try:
            result.append(work())
        finally:
            connection.close()

    t = threading.Thread(target=thread)
    t.start()
    t.join(30)
    assert not t.is_alive()
    return result[0]


def test_mail_is_queued_with_the_change_and_sent_only_after_commit(w):
    r = reserve(w.session, w.child)
    with transaction.atomic():
        reservation_cancel(reservation=r, actor=w.staff_user, now=w.now)
        assert OutgoingEmail.objects.count() == 1  # in the booking's transaction
        assert elsewhere(lambda: OutgoingEmail.objects.count()) == 0  # nobody else sees it
        assert elsewhere(lambda: deliver_due().claimed) == 0
    assert mail.outbox == []
    tally = elsewhere(deliver_due)
    assert (tally.sent, len(mail.outbox)) == (1, 1)
    assert w.parent_user.email in mail.outbox[0].to[0]
    assert elsewhere(deliver_due).claimed == 0  # once


class Undone(Exception):
    pass


def test_a_rollback_queues_nothing(w):
    for player in (w.player, w.child, w.other_child):
        reserve(w.session, player)
    with pytest.raises(Undone), transaction.atomic():
        group_session_cancel(session=w.session, actor=w.coach_user, now=w.now)
        emails.waitlist_promotion(reservation=w.player.reservations.get())
        assert OutgoingEmail.objects.count() == 4
        raise Undone  # anything after the service, in the same transaction, that fails
    assert OutgoingEmail.objects.count() == 0
    assert elsewhere(deliver_due).claimed == 0 and mail.outbox == []
    w.session.refresh_from_db()
    assert not w.session.is_cancelled


def test_two_senders_at_once_send_each_email_once(w):
    members = [make_user() for _ in range(40)]
    give_emails(*members)
    for user in members:
        make_player(w.academy, user=user)
    emails.announcement(
        announcement_id=1,
        academy_id=w.academy.pk,
        recipient_ids=[u.pk for u in members],
        subject="Floodlights fixed",
        text="Evening sessions are back.",
    )
    tallies = race(lambda _: deliver_all_due(batch=5), range(4))
    assert sum(t.sent for t in tallies) == 40
    assert sorted(m.to[0] for m in mail.outbox) == sorted(
        {m.to[0] for m in mail.outbox}
    )  # nobody twice
    assert len(mail.outbox) == 40
    assert set(OutgoingEmail.objects.values_list("status", flat=True)) == {"sent"}


def test_two_reminder_runs_at_once_queue_each_reminder_once(w):
    for player in (w.player, w.child, w.child2, w.other_child):
        reserve(w.session, player)
    at = w.session.starts_at - timedelta(hours=20)
    added = race(lambda _: queue_reminders(now=at), range(4))
    assert OutgoingEmail.objects.count() == 3  # Mia, Leo and Ada's parent, Kai's parent
    assert sum(added) >= 3  # every run may have offered them; the table kept one each
    race(lambda _: deliver_all_due(now=at), range(3))
    assert len(mail.outbox) == 3
