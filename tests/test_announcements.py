"""Announcements (seed 004's broadcast): who may write to whom, who receives them, the inbox,
and the toasts of those with a page open.

The world (tests.factories.build_world): in academy A `session` is coach's, with Mia (her own
login) and Leo (parent's child) reserved in the tests that need them; `session2` is coach2's,
with Kai (other_parent's child). Academy B has its own staff, coach and families.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from asgiref.sync import sync_to_async
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from bookings.errors import BookingError
from bookings.live.inbox import InboxBadge
from bookings.models import Announcement, InboxItem
from bookings.services.announcements import PER_HOUR, announcement_send, inbox_mark_read
from tests.factories import build_world, days_ahead, reserve
from tests.test_live_streams import (
    backend,  # noqa: F401  (a fixture)
    frags,
    live,
    received,
    settle,
    sockets,  # noqa: F401  (a fixture)
    toasts,
)


def inboxes(announcement: Announcement) -> set[int]:
    return set(announcement.deliveries.values_list("user_id", flat=True))


@pytest.fixture
def world(db):  # type: ignore[no-untyped-def]
    w = build_world()
    reserve(w.session, w.player)
    reserve(w.session, w.child)
    reserve(w.session2, w.other_child)
    return w


class TestWhoReceives:
    def test_a_session_reaches_its_players_guardians_and_coaches(self, world):
        sent = announcement_send(
            actor=world.staff_user, academy=world.academy, text="Bring water", session=world.session
        )
        assert inboxes(sent) == {world.player_user.pk, world.parent_user.pk, world.coach_user.pk}

    def test_a_coach_writes_to_their_own_session_and_is_not_their_own_recipient(self, world):
        sent = announcement_send(
            actor=world.coach_user,
            academy=world.academy,
            text="Courts 2-3 wet",
            session=world.session,
        )
        assert inboxes(sent) == {world.player_user.pk, world.parent_user.pk}

    def test_a_day_reaches_everyone_booked_that_day_and_their_coaches(self, world):
        day = world.session.starts_at.astimezone(world.academy.tz).date()
        sent = announcement_send(
            actor=world.staff_user, academy=world.academy, text="Rain", day=day
        )
        assert inboxes(sent) == {world.player_user.pk, world.parent_user.pk, world.coach_user.pk}
        assert sent.audience == Announcement.Audience.DAY

    def test_the_whole_academy(self, world):
        sent = announcement_send(
            actor=world.admin_user, academy=world.academy, text="Closed Monday"
        )
        expected = {
            world.player_user.pk,
            world.parent_user.pk,
            world.other_parent_user.pk,
            world.coach_user.pk,
            world.coach2_user.pk,
            world.staff_user.pk,
        }
        assert inboxes(sent) == expected  # nobody of academy B


class TestRefusals:
    @pytest.mark.parametrize(
        ("actor", "target", "code"),
        [
            ("coach2_user", "session", "not_allowed"),  # not their session
            ("coach_user", "day", "not_allowed"),  # coaches write to a session only
            ("coach_user", "academy", "not_allowed"),
            ("player_user", "session", "not_allowed"),
            ("parent_user", "academy", "not_allowed"),
            ("foreign_staff_user", "academy", "not_allowed"),
            ("foreign_staff_user", "foreign_session_here", "wrong_academy"),
        ],
    )
    def test_who_may_not_write_to_whom(self, world, actor, target, code):
        kwargs = {
            "session": {"session": world.session},
            "day": {"day": days_ahead(3)},
            "academy": {},
            "foreign_session_here": {"session": world.foreign_session},
        }[target]
        with pytest.raises(BookingError) as info:
            announcement_send(
                actor=getattr(world, actor), academy=world.academy, text="Hello", **kwargs
            )
        assert info.value.code == code
        assert not Announcement.objects.exists() and not InboxItem.objects.exists()

    @pytest.mark.parametrize(
        ("text", "code"),
        [("", "empty_message"), ("   \n ", "empty_message"), ("x" * 501, "message_too_long")],
    )
    def test_length_limits(self, world, text, code):
        with pytest.raises(BookingError) as info:
            announcement_send(actor=world.staff_user, academy=world.academy, text=text)
        assert info.value.code == code
        assert not Announcement.objects.exists()

    def test_a_day_too_far_away(self, world):
        with pytest.raises(BookingError) as info:
            announcement_send(
                actor=world.staff_user,
                academy=world.academy,
                text="Hi",
                day=timezone.localdate() + timedelta(days=900),
            )
        assert info.value.code == "bad_day"

    def test_a_sender_is_rate_limited(self, world):
        for n in range(PER_HOUR):
            announcement_send(
                actor=world.coach_user, academy=world.academy, text=f"#{n}", session=world.session
            )
        with pytest.raises(BookingError) as info:
            announcement_send(
                actor=world.coach_user,
                academy=world.academy,
                text="one more",
                session=world.session,
            )
        assert info.value.code == "too_many_messages"
        assert Announcement.objects.count() == PER_HOUR
        # An hour later they may write again; another sender is not held back meanwhile.
        announcement_send(actor=world.staff_user, academy=world.academy, text="desk")
        later = timezone.now() + timedelta(hours=1, minutes=1)
        announcement_send(
            actor=world.coach_user,
            academy=world.academy,
            text="later",
            session=world.session,
            now=later,
        )


class TestInbox:
    def test_the_inbox_shows_ones_own_messages_escaped_and_marks_them_read(self, world):
        announcement_send(
            actor=world.staff_user,
            academy=world.academy,
            text="<script>alert(1)</script> & see you",
            session=world.session,
        )
        announcement_send(
            actor=world.staff_user,
            academy=world.academy,
            text="only for Kai's",
            session=world.session2,
        )
        client = Client()
        client.force_login(world.parent_user)
        html = client.get(reverse("inbox")).content.decode()
        assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; see you" in html
        assert "<script>alert" not in html and "only for Kai" not in html
        assert '<span class="inbox-count" aria-label="1 unread">1</span>' in html
        response = client.post(reverse("inbox_read"), follow=True)
        assert "Marked 1 message as read." in response.content.decode()
        assert not InboxItem.objects.filter(user=world.parent_user, read_at__isnull=True).exists()
        assert InboxItem.objects.filter(user=world.other_parent_user, read_at__isnull=True).exists()
        assert inbox_mark_read(actor=world.parent_user) == 0

    def test_the_compose_page_sends_and_refuses_plainly(self, world):
        client = Client()
        client.force_login(world.coach_user)
        url = reverse("announce")
        day = world.session.starts_at.astimezone(world.academy.tz).date().isoformat()
        page = client.get(f"{url}?date={day}").content.decode()
        assert world.session.display_title in page and 'value="academy"' not in page
        response = client.post(
            url, {"date": day, "audience": "session", "session": world.session.pk, "text": "Hi"}
        )
        assert response.status_code == 302
        assert Announcement.objects.get().sender == world.coach_user
        for data, status in [
            ({"audience": "academy", "text": "Hi"}, 400),  # a coach: one session only
            ({"audience": "session", "session": "x", "text": "Hi"}, 400),
            ({"audience": "session", "session": world.session2.pk, "text": "Hi"}, 403),
            ({"audience": "session", "session": world.foreign_session.pk, "text": "Hi"}, 403),
            ({"audience": "session", "session": 999999999, "text": "Hi"}, 404),
            ({"audience": "session", "session": world.session.pk, "text": ""}, 400),
        ]:
            assert client.post(url, {"date": day, **data}).status_code == status, data
        assert Announcement.objects.count() == 1


# -- live: the toast and the inbox badge, to exactly the recipients ----------------------------


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_recipients_with_a_page_open_get_a_toast_and_their_badge(backend, sockets):  # type: ignore[no-untyped-def]
    w = await sync_to_async(build_world)()
    await sync_to_async(reserve)(w.session, w.child)
    await settle()
    badge = {u: InboxBadge(u.pk).key for u in (w.parent_user, w.other_parent_user)}
    parent = await live(sockets, w.parent_user, [badge[w.parent_user]])
    other = await live(sockets, w.other_parent_user, [badge[w.other_parent_user]])
    foreign = await live(sockets, w.foreign_parent_user, [InboxBadge(w.foreign_parent_user.pk).key])

    sent = await sync_to_async(announcement_send)(
        actor=w.coach_user, academy=w.academy, text="Courts 2-3 closed: rain", session=w.session
    )
    got = await received(parent)
    assert toasts(got) == [f"Message from {w.coach.display_name}: Courts 2-3 closed: rain"]
    note = next(m for m in got if m["t"] == "n")
    assert note["url"] == f"{reverse('inbox')}#announcement-{sent.pk}"
    assert (
        '<span class="inbox-count" aria-label="1 unread">1</span>'
        in frags(got)[badge[w.parent_user]]["h"]
    )
    assert await received(other) == [] and await received(foreign) == []

    # Reading it in another tab brings the badge down in this one.
    await sync_to_async(inbox_mark_read)(actor=w.parent_user)
    got = await received(parent)
    assert toasts(got) == [] and 'class="inbox-count"' not in frags(got)[badge[w.parent_user]]["h"]


def test_recipients_who_want_it_get_an_email_too(world):
    from bookings.models import OutgoingEmail

    for user in (world.parent_user, world.player_user, world.coach_user):
        user.email = f"{user.username}@example.com"
        user.save()
    sent = announcement_send(
        actor=world.coach_user, academy=world.academy, text="Rain", session=world.session
    )
    emailed = set(
        OutgoingEmail.objects.filter(kind="announcement", about_id=sent.pk).values_list(
            "recipient_id", flat=True
        )
    )
    assert emailed == {world.parent_user.pk, world.player_user.pk}  # not the coach who wrote
