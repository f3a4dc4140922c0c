"""Email: who is told, once, in which words; what a mail server that is down does (nothing to a
booking); the day-before reminders; the unsubscribe link and the choices on the account page.

Rows are queued inside the services' transactions; these tests run in one (pytest-django's
savepoints) and send with `deliver_due` into Django's in-memory outbox. What COMMIT and
ROLLBACK do, and two senders at once, is tests/test_email_transactions.py, on real
transactions.
"""

from __future__ import annotations

import smtplib
import socket
from datetime import UTC, timedelta
from email.utils import parseaddr
from html import unescape
from urllib.parse import urlsplit

import pytest
from django.core import mail
from django.core.mail.backends.base import BaseEmailBackend
from django.core.management import call_command
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from bookings import emails
from bookings.emails.deliver import MAX_ATTEMPTS, backoff, deliver_due
from bookings.emails.reminders import queue_reminders
from bookings.models import EmailOptOut, EmailTopic, GuardianLink, OutgoingEmail
from bookings.services import (
    group_session_cancel,
    group_session_update,
    individual_booking_cancel,
    reservation_cancel,
    reservation_create,
)
from bookings.services.sessions import SessionPlan
from scheduling.models import StaffMember
from tests.factories import book, give_emails, local, make_player, make_user, reserve

pytestmark = pytest.mark.django_db

Kind = OutgoingEmail.Kind
Status = OutgoingEmail.Status


@pytest.fixture
def w(module_world):
    """The module's world, every user with an address, and a time two days before its
    sessions (staff and coaches may cancel at any time; families before the cut-off)."""
    w = module_world
    give_emails(
        w.player_user,
        w.parent_user,
        w.other_parent_user,
        w.coach_user,
        w.coach2_user,
        w.staff_user,
        w.foreign_player_user,
    )
    w.now = w.session.starts_at - timedelta(days=2)
    w.session.capacity = 8
    w.session.save()
    return w


def queued() -> list[tuple[str, str, str]]:
    return sorted(OutgoingEmail.objects.values_list("kind", "recipient__username", "status"))


def send(now=None) -> list[mail.EmailMessage]:
    """One sender pass; the messages it sent."""
    before = len(mail.outbox)
    deliver_due(now=now)
    return mail.outbox[before:]


def html_of(message) -> str:
    [(html, kind)] = message.alternatives
    assert kind == "text/html"
    return html


def words_of(message) -> str:
    """The HTML part's text as a reader sees it (entities decoded)."""
    return unescape(html_of(message))


def address(message) -> str:
    [to] = message.to
    return parseaddr(to)[1]


# -- who is told -------------------------------------------------------------------------------


def test_a_cancellation_by_the_front_desk_tells_the_family_once(w):
    r = reserve(w.session, w.child)
    reservation_cancel(reservation=r, actor=w.staff_user, now=w.now)
    assert queued() == [(Kind.RESERVATION_CANCELLED, "parent", Status.PENDING)]

    [message] = send()
    assert address(message) == w.parent_user.email
    assert message.subject.startswith(f"Cancelled: {w.session.display_title}, ")
    assert message.subject.endswith("(Leo)")
    assert "cancelled Leo's place in this session" in message.body
    assert "cancelled Leo's place in this session" in words_of(message)
    assert queued() == [(Kind.RESERVATION_CANCELLED, "parent", Status.SENT)]
    assert send() == []  # once


def test_the_player_and_their_guardian_are_told_the_players_own_words(w):
    teen = make_user("teen")
    give_emails(teen)
    player = make_player(w.academy, user=teen, first="Tia", guardians=[w.parent_user])
    r = reserve(w.session, player)
    reservation_cancel(reservation=r, actor=w.coach_user, now=w.now)

    by_user = {address(m): m for m in send()}
    assert set(by_user) == {teen.email, w.parent_user.email}
    mine, theirs = by_user[teen.email], by_user[w.parent_user.email]
    assert f"{w.coach.display_name} cancelled your place" in mine.body
    assert "(" not in mine.subject  # about the recipient themself: no name
    assert f"{w.coach.display_name} cancelled Tia's place" in theirs.body
    assert theirs.subject.endswith("(Tia)")
    assert reverse("player_schedule") in mine.body and reverse("parent_schedule") in theirs.body


@pytest.mark.parametrize("who", ["player", "parent"])
def test_a_family_cancelling_itself_tells_nobody(w, who):
    player, actor = (w.player, w.player_user) if who == "player" else (w.child, w.parent_user)
    r = reserve(w.session, player)
    reservation_cancel(reservation=r, actor=actor, now=w.now)
    lesson = book(w.coach, player, w.lesson_type, local(w.academy, w.session.starts_at.date(), 15))
    individual_booking_cancel(booking=lesson, actor=actor, now=w.now)
    assert queued() == []


def test_a_desk_member_who_is_the_guardian_is_family(w):
    StaffMember.objects.create(academy=w.academy, user=w.parent_user)
    r = reserve(w.session, w.child)
    reservation_cancel(reservation=r, actor=w.parent_user, now=w.now)
    assert queued() == []


def test_a_lesson_cancelled_by_its_coach(w):
    lesson = book(
        w.coach, w.child2, w.lesson_type, local(w.academy, w.session.starts_at.date(), 15)
    )
    individual_booking_cancel(booking=lesson, actor=w.coach_user, now=w.now)
    [message] = send()
    assert address(message) == w.parent_user.email
    assert f"{w.coach.display_name} cancelled Ada's lesson" in message.body
    assert w.lesson_type.name in message.subject


def test_a_session_cancelled_by_its_coach_tells_every_family_once(w):
    for player in (w.player, w.child, w.child2, w.other_child):
        reserve(w.session, player)
    earlier = reserve(w.session, make_player(w.academy, user=make_user(), first="Gone"))
    reservation_cancel(reservation=earlier, actor=earlier.player.user, now=w.now)

    group_session_cancel(session=w.session, actor=w.coach_user, now=w.now)

    assert queued() == [
        (Kind.SESSION_CANCELLED, "other_parent", Status.PENDING),
        (Kind.SESSION_CANCELLED, "parent", Status.PENDING),
        (Kind.SESSION_CANCELLED, "player", Status.PENDING),
    ]  # not the coach, nor the player who had cancelled before
    sent = {address(m): m for m in send()}
    assert set(sent) == {w.player_user.email, w.parent_user.email, w.other_parent_user.email}
    parent = sent[w.parent_user.email]
    assert "and with it Leo's and Ada's places" in parent.body or (
        "and with it Ada's and Leo's places" in parent.body
    )
    assert "and with it your place" in sent[w.player_user.email].body
    assert w.other_child.first_name not in parent.body  # another family's child
    assert w.child.first_name not in sent[w.other_parent_user.email].body


def test_a_session_cancelled_by_the_desk_leaves_out_only_the_actor(w):
    """A coach who is also a parent in the session cancels it: not told of their own act."""
    GuardianLink.objects.create(guardian=w.coach_user, player=w.other_child)
    reserve(w.session, w.other_child)
    group_session_cancel(session=w.session, actor=w.coach_user, now=w.now)
    assert queued() == [(Kind.SESSION_CANCELLED, "other_parent", Status.PENDING)]


def test_choices_and_addresses_decide_who_gets_one(w):
    EmailOptOut.objects.create(user=w.parent_user, topic=EmailTopic.CANCELLATIONS)
    EmailOptOut.objects.create(user=w.player_user, topic=EmailTopic.REMINDERS)  # other topic
    w.other_parent_user.email = ""
    w.other_parent_user.save()
    for player in (w.player, w.child, w.other_child):
        reserve(w.session, player)
    group_session_cancel(session=w.session, actor=w.staff_user, now=w.now)
    assert queued() == [(Kind.SESSION_CANCELLED, "player", Status.PENDING)]


def test_turning_a_topic_off_after_queueing_skips_the_email(w):
    r = reserve(w.session, w.child)
    reservation_cancel(reservation=r, actor=w.staff_user, now=w.now)
    EmailOptOut.objects.create(user=w.parent_user, topic=EmailTopic.CANCELLATIONS)
    assert send() == []
    assert queued() == [(Kind.RESERVATION_CANCELLED, "parent", Status.SKIPPED)]


def test_an_email_no_longer_true_is_skipped_and_a_new_cancellation_is_told(w):
    r = reserve(w.session, w.child)
    reservation_cancel(reservation=r, actor=w.staff_user, now=w.now)
    reservation_create(player=w.child, session=w.session, actor=w.parent_user, now=w.now)
    assert send() == []  # Leo is booked again: the cancellation email would be wrong
    reservation_cancel(reservation=r, actor=w.staff_user, now=w.now + timedelta(minutes=1))
    assert len(send()) == 1
    assert [s for *_, s in queued()] == [Status.SENT, Status.SKIPPED]


def test_a_guardian_unlinked_before_sending_is_not_told(w):
    r = reserve(w.session, w.child)
    reservation_cancel(reservation=r, actor=w.staff_user, now=w.now)
    GuardianLink.objects.filter(guardian=w.parent_user, player=w.child).delete()
    assert send() == []


# -- what it says -------------------------------------------------------------------------------


def test_times_are_the_academys_and_html_is_escaped(w):
    w.academy.time_zone = "Pacific/Auckland"  # 11 to 13 hours from UTC: no hour coincides
    w.academy.save()
    w.session.title = '<b>Clinic</b> & "friends"'
    w.session.save()
    r = reserve(w.session, w.child)
    reservation_cancel(reservation=r, actor=w.staff_user, now=w.now)
    [message] = send()
    local_start = w.session.starts_at.astimezone(w.academy.tz)
    utc_start = w.session.starts_at.astimezone(UTC)
    assert local_start.strftime("%H:%M") in message.subject
    assert local_start.strftime("%H:%M") in message.body
    assert utc_start.strftime("%H:%M") not in message.body
    html = html_of(message)
    assert "&lt;b&gt;Clinic&lt;/b&gt; &amp; &quot;friends&quot;" in html
    assert "<b>Clinic</b>" not in html
    assert '<b>Clinic</b> & "friends"' in message.body  # plain text is not HTML-escaped


def test_every_email_links_the_page_and_how_to_stop_it(w, settings):
    settings.SITE_URL = "https://courts.example.org"
    r = reserve(w.session, w.child)
    reservation_cancel(reservation=r, actor=w.staff_user, now=w.now)
    [message] = send()
    day = w.session.starts_at.astimezone(w.academy.tz).date().isoformat()
    page = f"https://courts.example.org/parent/schedule/?player={w.child.pk}&date={day}"
    assert page in message.body and page.replace("&", "&amp;") in html_of(message)
    unsubscribe = message.extra_headers["List-Unsubscribe"].strip("<>")
    assert unsubscribe.startswith("https://courts.example.org/email/unsubscribe/")
    assert unsubscribe in message.body and unsubscribe in html_of(message)
    assert message.extra_headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert message.extra_headers["Auto-Submitted"] == "auto-generated"
    assert "https://courts.example.org/account/" in message.body
    assert w.academy.name in message.from_email
    assert "\n" not in message.subject


# -- the functions other features call ----------------------------------------------------------


def test_waitlist_promotion_tells_the_whole_family_once(w):
    r = reserve(w.session, w.child)
    emails.waitlist_promotion(reservation=r)
    emails.waitlist_promotion(reservation=r)  # a retried promotion
    assert queued() == [(Kind.WAITLIST_PROMOTION, "parent", Status.PENDING)]
    [message] = send()
    assert message.subject.startswith(f"A place for you: {w.session.display_title}")
    assert "Leo moved up from the waiting list" in message.body
    assert f"/parent/?tab=reservations&player={w.child.pk}" in message.body


def test_a_promotion_cancelled_before_sending_is_skipped(w):
    r = reserve(w.session, w.child)
    emails.waitlist_promotion(reservation=r)
    reservation_cancel(reservation=r, actor=w.parent_user, now=w.now)
    assert send() == []


def test_an_announcement_goes_once_to_members_who_want_it(w):
    EmailOptOut.objects.create(user=w.other_parent_user, topic=EmailTopic.ANNOUNCEMENTS)
    audience = [
        w.parent_user.pk,
        w.player_user.pk,
        w.other_parent_user.pk,
        w.staff_user.pk,  # the author
        w.foreign_player_user.pk,  # not a member of this academy
    ]
    for _ in range(2):
        emails.announcement(
            announcement_id=7,
            academy_id=w.academy.pk,
            recipient_ids=audience,
            subject="Courts closed on Monday",
            text="The courts are resurfaced.\n<script>alert(1)</script>",
            link="/parent/",
            author=w.staff_user,
        )
    assert [u for _, u, _ in queued()] == ["foreign_player", "parent", "player"]
    sent = send()
    assert sorted(address(m) for m in sent) == sorted([w.parent_user.email, w.player_user.email])
    message = sent[0]
    assert message.subject == "Courts closed on Monday"
    assert "&lt;script&gt;" in html_of(message) and "<script>" not in html_of(message)
    assert "/parent/" in message.body
    assert [s for *_, s in queued()] == [Status.SKIPPED, Status.SENT, Status.SENT]


# -- a mail server that is down -----------------------------------------------------------------


class DownBackend(BaseEmailBackend):
    """A mail server that refuses every connection."""

    def open(self):
        raise ConnectionRefusedError("the mail server is down")

    def send_messages(self, messages):
        raise ConnectionRefusedError("the mail server is down")


class RefusingBackend(BaseEmailBackend):
    """A mail server that says no for good to every recipient."""

    def send_messages(self, messages):
        raise smtplib.SMTPRecipientsRefused({"x@example.test": (550, b"no such user")})


class DroppingBackend(BaseEmailBackend):
    """Takes one message, then loses the connection."""

    def send_messages(self, messages):
        if len(mail.outbox) >= 1:
            raise smtplib.SMTPServerDisconnected("connection lost")
        mail.outbox.extend(messages)
        return len(messages)


def test_a_mail_server_that_is_down_delays_mail_and_never_fails_a_booking(w, settings):
    settings.MAILERS = {"default": {"BACKEND": "tests.test_emails.DownBackend"}}
    r = reserve(w.session, w.child)
    cancelled = reservation_cancel(reservation=r, actor=w.staff_user, now=w.now)
    assert not cancelled.is_active  # the booking went through

    at = w.now
    tally = deliver_due(now=at)
    assert (tally.sent, tally.retrying) == (0, 1)
    row = OutgoingEmail.objects.get()
    assert (row.status, row.attempts) == (Status.PENDING, 1)
    assert row.due_at == at + backoff(1) and "down" in row.last_error

    # The server is back.
    settings.MAILERS = {"default": {"BACKEND": "django.core.mail.backends.locmem.EmailBackend"}}
    assert send(now=at) == []  # not due yet: the back-off holds
    assert len(send(now=at + backoff(1))) == 1
    assert OutgoingEmail.objects.get().status == Status.SENT


def test_a_real_smtp_connection_refused_leaves_mail_pending(w, settings):
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    settings.MAILERS = {
        "default": {
            "BACKEND": "django.core.mail.backends.smtp.EmailBackend",
            "OPTIONS": {"host": "127.0.0.1", "port": port, "timeout": 2},
        }
    }
    r = reserve(w.session, w.child)
    reservation_cancel(reservation=r, actor=w.staff_user, now=w.now)
    assert deliver_due(now=w.now).retrying == 1
    assert OutgoingEmail.objects.get().status == Status.PENDING


def test_retries_double_and_give_up(w, settings):
    settings.MAILERS = {"default": {"BACKEND": "tests.test_emails.DownBackend"}}
    assert [backoff(n).total_seconds() / 60 for n in (1, 2, 3, 4)] == [1, 2, 4, 8]
    assert backoff(20) == timedelta(hours=6)
    r = reserve(w.session, w.child)
    reservation_cancel(reservation=r, actor=w.staff_user, now=w.now)
    at = w.now
    for _ in range(MAX_ATTEMPTS):
        deliver_due(now=at)
        at = OutgoingEmail.objects.get().due_at
    row = OutgoingEmail.objects.get()
    assert (row.status, row.attempts) == (Status.FAILED, MAX_ATTEMPTS)


def test_a_refusal_for_good_fails_at_once(w, settings):
    settings.MAILERS = {"default": {"BACKEND": "tests.test_emails.RefusingBackend"}}
    r = reserve(w.session, w.child)
    reservation_cancel(reservation=r, actor=w.staff_user, now=w.now)
    assert deliver_due(now=w.now).failed == 1
    assert OutgoingEmail.objects.get().status == Status.FAILED


def test_a_lost_connection_stops_the_pass_and_the_rest_wait(w, settings):
    settings.MAILERS = {"default": {"BACKEND": "tests.test_emails.DroppingBackend"}}
    for player in (w.player, w.child, w.other_child):
        reserve(w.session, player)
    group_session_cancel(session=w.session, actor=w.staff_user, now=w.now)
    tally = deliver_due(now=w.now)
    assert (tally.sent, tally.retrying) == (1, 2)
    assert sorted(OutgoingEmail.objects.values_list("status", "attempts")) == [
        (Status.PENDING, 1),
        (Status.PENDING, 1),
        (Status.SENT, 1),
    ]


# -- reminders -------------------------------------------------------------------------------------


def test_reminders_run_twice_send_once(w):
    for player in (w.player, w.child, w.child2):
        reserve(w.session, player)
    lesson = book(w.coach, w.other_child, w.lesson_type, w.session.starts_at + timedelta(hours=2))
    at = w.session.starts_at - timedelta(hours=20)

    assert queue_reminders(now=at) == 3  # Mia; Leo and Ada's parent once; Kai's lesson
    assert queue_reminders(now=at) == 0
    first, second = send(now=at), send(now=at)
    assert second == []
    by_user = {address(m): m for m in first}
    assert set(by_user) == {w.player_user.email, w.parent_user.email, w.other_parent_user.email}
    parent = by_user[w.parent_user.email]
    assert parent.subject.startswith(f"Reminder: {w.session.display_title}")
    assert "Ada and Leo are booked" in parent.body or "Leo and Ada are booked" in parent.body
    assert "you are booked on this session" in by_user[w.player_user.email].body
    assert "Kai's lesson" in by_user[w.other_parent_user.email].body
    assert lesson.session_type.name in by_user[w.other_parent_user.email].subject
    assert queue_reminders(now=at + timedelta(hours=1)) == 0  # still once


def test_no_reminder_too_early_or_for_a_late_booking(w):
    r = reserve(w.session, w.child)
    assert queue_reminders(now=w.session.starts_at - timedelta(hours=25)) == 0
    assert queue_reminders(now=w.session.starts_at) == 0  # it has started
    # booked 10 hours before: there was no "day before" for it
    type(r).objects.filter(pk=r.pk).update(updated_at=w.session.starts_at - timedelta(hours=10))
    assert queue_reminders(now=w.session.starts_at - timedelta(hours=5)) == 0


def test_a_reminder_for_what_was_cancelled_or_moved_is_skipped(w):
    r = reserve(w.session, w.child)
    reserve(w.session, w.player)
    at = w.session.starts_at - timedelta(hours=20)
    queue_reminders(now=at)
    reservation_cancel(reservation=r, actor=w.staff_user, now=at)  # Leo's place, by the desk
    sent = send(now=at)
    assert sorted(m.subject.split(":")[0] for m in sent) == ["Cancelled", "Reminder"]  # Mia's
    assert not any(
        m.subject.startswith("Reminder") and w.parent_user.email in m.to[0] for m in sent
    )

    plan = SessionPlan(
        session_type=w.session.session_type,
        starts_at=w.session.starts_at + timedelta(hours=2),
        ends_at=w.session.ends_at + timedelta(hours=2),
        capacity=w.session.capacity,
        coaches=[w.coach],
    )
    group_session_update(session=w.session, plan=plan, actor=w.staff_user)
    assert queue_reminders(now=at) == 1  # Mia again, for the new time
    assert len(send(now=at)) == 1


def test_reminders_respect_the_choice(w):
    EmailOptOut.objects.create(user=w.parent_user, topic=EmailTopic.REMINDERS)
    reserve(w.session, w.child)
    assert queue_reminders(now=w.session.starts_at - timedelta(hours=20)) == 0


def test_the_commands(w, capsys):
    """send_reminders and send_mail --once, as cron runs them (at the real time)."""
    from django.utils import timezone

    soon = timezone.now() + timedelta(hours=12)
    w.session.starts_at, w.session.ends_at = soon, soon + timedelta(hours=1)
    w.session.save()
    r = reserve(w.session, w.child)
    type(r).objects.filter(pk=r.pk).update(updated_at=soon - timedelta(days=2))
    call_command("send_reminders")
    call_command("send_reminders")
    call_command("send_mail", "--once")
    call_command("send_mail", "--once")
    out = capsys.readouterr().out
    assert out.count("1 reminder(s) queued.") == 1 and "0 reminder(s) queued." in out
    assert "Emails: 1 sent" in out and "Emails: 0 sent" in out
    assert len(mail.outbox) == 1


# -- unsubscribing, and the account page's choices -----------------------------------------------


def _unsubscribe_path(w) -> str:
    r = reserve(w.session, w.child)
    reservation_cancel(reservation=r, actor=w.staff_user, now=w.now)
    [message] = send()
    return urlsplit(message.extra_headers["List-Unsubscribe"].strip("<>")).path


def test_the_unsubscribe_link_asks_then_turns_the_topic_off(w):
    path = _unsubscribe_path(w)
    anonymous = Client(enforce_csrf_checks=True)
    page = anonymous.get(path)
    assert page.status_code == 200 and "Stop these emails" in page.content.decode()
    assert not EmailOptOut.objects.exists()  # opening the link changes nothing

    done = Client().post(path, {"action": "unsubscribe"}, follow=True)
    assert "you will get no more of these emails" in done.content.decode()
    assert list(EmailOptOut.objects.values_list("user__username", "topic")) == [
        ("parent", EmailTopic.CANCELLATIONS)
    ]
    again = Client().post(path, {"action": "resubscribe"}, follow=True)
    assert "these emails are on again" in again.content.decode()
    assert not EmailOptOut.objects.exists()


def test_one_click_unsubscribe_needs_no_csrf_token(w):
    path = _unsubscribe_path(w)
    response = Client(enforce_csrf_checks=True).post(path, {"List-Unsubscribe": "One-Click"})
    assert response.status_code == 200
    assert EmailOptOut.objects.filter(user=w.parent_user, topic="cancellations").exists()


def test_a_forged_unsubscribe_link_is_404(w):
    path = _unsubscribe_path(w)
    token = path.split("/")[-2]
    for bad in (token[:-2] + "xx", "abc", "x" * 300, token.replace("W", "V", 1)):
        response = Client().post(reverse("unsubscribe", args=[bad]), {"action": "unsubscribe"})
        assert response.status_code == 404, bad
    assert not EmailOptOut.objects.exists()
    w.parent_user.delete()
    assert Client().get(path).status_code == 404


def test_the_account_page_saves_email_choices(w):
    client = Client()
    client.force_login(w.parent_user)
    response = client.post(
        reverse("account_email"), {"topic": ["cancellations", "promotions", "nonsense"]}
    )
    assert response.status_code == 302
    assert set(EmailOptOut.objects.values_list("topic", flat=True)) == {
        "announcements",
        "reminders",
    }
    html = client.get(reverse("account")).content.decode()
    assert 'value="cancellations" aria-describedby="topic-cancellations-hint" checked' in html
    assert 'value="reminders" aria-describedby="topic-reminders-hint">' in html
    client.post(reverse("account_email"), {"topic": list(EmailTopic.values)})
    assert not EmailOptOut.objects.exists()
    assert Client().post(reverse("account_email"), {}).status_code == 302  # to the login
    assert client.get(reverse("account_email")).status_code == 405


def test_queueing_costs_a_desk_cancellation_two_statements_and_a_familys_none(w):
    """Who may be told (one query) and the insert, inside the booking's transaction."""

    def mail_statements(**kwargs) -> list[str]:
        with CaptureQueriesContext(connection) as seen:
            reservation_cancel(now=w.now, **kwargs)
        return [
            q["sql"]
            for q in seen.captured_queries
            if "auth_user" in q["sql"] or "outgoing" in q["sql"]
        ]

    desk = mail_statements(reservation=reserve(w.session, w.child), actor=w.staff_user)
    assert len(desk) == 2, desk
    assert mail_statements(reservation=reserve(w.session, w.player), actor=w.player_user) == []


def test_the_unsubscribe_pages_meet_the_accessibility_basics(w):
    from tests.test_pages_access import audit

    path = _unsubscribe_path(w)
    for url, status in ((path, 200), (reverse("unsubscribe", args=["nonsense"]), 404)):
        response = Client().get(url)
        assert response.status_code == status
        page = audit(response.content.decode())
        assert page.h1 == 1 and page.status and page.status.get("role") == "status"
        assert all(page.buttons)
    assert "Stop these emails" in audit(Client().get(path).content.decode()).buttons


def test_the_queue_forgets_what_it_did_after_ninety_days(w):
    from bookings.emails.deliver import KEEP, prune

    r = reserve(w.session, w.child)
    reservation_cancel(reservation=r, actor=w.staff_user, now=w.now)
    emails.waitlist_promotion(reservation=reserve(w.session2, w.child2))
    send()  # the cancellation is sent
    OutgoingEmail.objects.update(created_at=w.now - KEEP - timedelta(days=1))
    OutgoingEmail.objects.filter(kind=Kind.WAITLIST_PROMOTION).update(status=Status.PENDING)
    assert prune(now=w.now) == 1
    assert queued() == [(Kind.WAITLIST_PROMOTION, "parent", Status.PENDING)]  # still to send
