"""The Django admin: every page renders, and edits keep the services' invariants."""

from __future__ import annotations

from datetime import timedelta
from types import SimpleNamespace

import pytest
from django.contrib import admin
from django.contrib.messages import get_messages
from django.urls import reverse
from django.utils import timezone

from bookings.models import (
    Activity,
    Attendance,
    CalendarFeed,
    EmailOptOut,
    Feedback,
    Goal,
    IdempotencyKey,
    IndividualBooking,
    OutgoingEmail,
    Player,
    SessionReservation,
    WaitlistEntry,
)
from bookings.services import (
    attendance_mark,
    feedback_save,
    individual_booking_create,
    reservation_create,
    series_create,
    waitlist_join,
)
from bookings.services.accounts import calendar_feed_create
from bookings.services.sessions import SessionPlan
from scheduling.models import CoachTimeOff, Court, GroupSession, SessionSeries, StaffAssignment
from tests.factories import days_ahead, local, make_player, make_session

pytestmark = pytest.mark.django_db

OUR_MODELS = [
    model for model in admin.site._registry if model._meta.app_label in {"scheduling", "bookings"}
]


def url(model, view: str, *args) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{view}", args=args)


@pytest.fixture
def web(client, world):
    client.force_login(world.admin_user)
    return client


@pytest.fixture
def rows(world):
    """One row of every kind, so the changelists have something to render."""
    reservation = reservation_create(
        player=world.player, session=world.session, actor=world.staff_user
    )
    booking = individual_booking_create(
        player=world.child,
        coach=world.coach2,
        session_type=world.lesson_type,
        starts_at=local(world.academy, days_ahead(2), 9),
        actor=world.staff_user,
        idempotency_key="k1",
    )
    time_off = CoachTimeOff.objects.create(
        coach=world.coach,
        starts_at=local(world.academy, days_ahead(9), 9),
        ends_at=local(world.academy, days_ahead(9), 17),
        reason="Holiday",
    )
    # A check-in, its rating and a goal (the booking services already wrote the log).
    during = world.session.starts_at + timedelta(minutes=5)
    mark = attendance_mark(
        actor=world.coach_user, reservation=reservation, status="present", now=during
    )
    feedback_save(attendance=mark, actor=world.player_user, rating=5, comment="Mia", now=during)
    Goal.objects.create(academy=world.academy, coach=world.coach, player=world.player, title="A")
    email = OutgoingEmail.objects.create(
        kind=OutgoingEmail.Kind.RESERVATION_CANCELLED,
        cause=str(reservation.pk),
        about_id=reservation.pk,
        recipient=world.player_user,
        status=OutgoingEmail.Status.FAILED,
        attempts=10,
        due_at=timezone.now(),
    )
    calendar_feed_create(user=world.player_user, scope="mine")
    EmailOptOut.objects.create(user=world.player_user, topic="reminders")
    for player in (world.child2, world.other_child, make_player(world.academy)):
        reservation_create(player=player, session=world.session, actor=world.staff_user)
    entry = waitlist_join(player=world.child, session=world.session, actor=world.parent_user)
    starts = local(world.academy, days_ahead(12), 18)
    series = series_create(
        academy=world.academy,
        plan=SessionPlan(
            session_type=world.group_type,
            starts_at=starts,
            ends_at=starts + timedelta(hours=1),
            capacity=6,
            coaches=[world.coach2],
        ),
        until=days_ahead(12 + 14),
        actor=world.staff_user,
    )
    return SimpleNamespace(
        reservation=reservation,
        booking=booking,
        time_off=time_off,
        email=email,
        entry=entry,
        series=series,
    )


def messages_of(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


def test_every_model_of_ours_is_registered():
    # StaffAssignment is edited inline, on its session.
    assert {model.__name__ for model in OUR_MODELS} == {
        "Academy",
        "StaffMember",
        "Coach",
        "Court",
        "SessionType",
        "GroupSession",
        "CoachAvailability",
        "CoachTimeOff",
        "Player",
        "GuardianLink",
        "SessionReservation",
        "IndividualBooking",
        "IdempotencyKey",
        "OutgoingEmail",
        "CalendarFeed",
        "EmailOptOut",
        "Attendance",
        "Feedback",
        "Goal",
        "Activity",
        "SessionSeries",
        "WaitlistEntry",
    }


@pytest.mark.parametrize("model", OUR_MODELS, ids=lambda m: m.__name__)
def test_changelist_add_and_change_pages_render(web, rows, model):
    assert web.get(url(model, "changelist")).status_code == 200
    add = web.get(url(model, "add"))
    # Made only elsewhere: submissions, emails, feeds, check-ins, ratings, the log (the services
    # and the tablet), series and waiting lists (the schedule pages).
    made_elsewhere = {
        IdempotencyKey,
        OutgoingEmail,
        CalendarFeed,
        Attendance,
        Feedback,
        Activity,
        SessionSeries,
        WaitlistEntry,
    }
    assert add.status_code == (403 if model in made_elsewhere else 200)
    obj = model.objects.first()
    assert obj is not None, f"the fixtures made no {model.__name__}"
    assert web.get(url(model, "change", obj.pk)).status_code == 200


@pytest.mark.parametrize("model", OUR_MODELS, ids=lambda m: m.__name__)
def test_search_filters_and_dates_do_not_fail(web, rows, model):
    model_admin = admin.site._registry[model]
    changelist = url(model, "changelist")
    assert web.get(changelist, {"q": "Mia"}).status_code == 200
    assert web.get(changelist, {"q": "no such thing"}).status_code == 200
    for list_filter in model_admin.list_filter:
        # An unknown value is fine; a wrong parameter name redirects with ?e=1, never a 500.
        response = web.get(changelist, {f"{list_filter}__exact": "1"})
        assert response.status_code in (200, 302), list_filter
    if model_admin.date_hierarchy:
        year = timezone.now().year
        response = web.get(changelist, {f"{model_admin.date_hierarchy}__year": year})
        assert response.status_code == 200
    assert web.get(changelist, {"o": "-1"}).status_code == 200


def test_filters_by_status_and_academy(web, world, rows):
    response = web.get(
        url(GroupSession, "changelist"),
        {"status__exact": "scheduled", "academy__id__exact": world.academy.pk},
    )
    assert response.status_code == 200
    series = rows.series.occurrences.order_by("starts_at")
    assert list(response.context["cl"].result_list) == [world.session, world.session2, *series]


# -- group sessions: capacity, status and court ---------------------------------------------------


def session_form(session, **changes) -> dict:
    """The change form's POST data for a session, as the admin page would send it."""
    starts_at = timezone.localtime(session.starts_at)
    ends_at = timezone.localtime(session.ends_at)
    data = {
        "session_type": session.session_type_id,
        "title": session.title,
        "starts_at_0": starts_at.date().isoformat(),
        "starts_at_1": starts_at.time().isoformat(),
        "ends_at_0": ends_at.date().isoformat(),
        "ends_at_1": ends_at.time().isoformat(),
        "court": session.court_id or "",
        "capacity": session.capacity,
        "coaches": list(session.assignments.values_list("coach_id", flat=True)),
    }
    data.update(changes)
    return data


def reserve_two(world):
    for player in (world.player, world.child):
        reservation_create(player=player, session=world.session, actor=world.staff_user)
    world.session.refresh_from_db()
    assert world.session.reserved_count == 2


def test_capacity_below_reservations_is_refused_and_changes_nothing(web, world):
    reserve_two(world)
    before = GroupSession.objects.values().get(pk=world.session.pk)

    response = web.post(
        url(GroupSession, "change", world.session.pk),
        session_form(world.session, capacity=1, title="Renamed"),
    )

    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert "Capacity cannot be lower than the 2 reservations already made" in str(
        errors["capacity"]
    )
    assert GroupSession.objects.values().get(pk=world.session.pk) == before


def test_capacity_down_to_the_reservations_is_saved_and_bumps_the_version(web, world):
    reserve_two(world)
    version = world.session.version

    response = web.post(
        url(GroupSession, "change", world.session.pk), session_form(world.session, capacity=2)
    )

    assert response.status_code == 302
    world.session.refresh_from_db()
    assert (world.session.capacity, world.session.reserved_count) == (2, 2)
    assert world.session.version == version + 1


@pytest.fixture
def booking_during_edit(world, monkeypatch):
    """Someone books the session between the admin reading its row and saving the form."""
    model_admin = admin.site._registry[GroupSession]
    read = type(model_admin).get_object

    def get_object(self, request, object_id, from_field=None):
        session = read(self, request, object_id, from_field)
        reservation_create(player=world.child2, session=session, actor=world.staff_user)
        return session

    monkeypatch.setattr(type(model_admin), "get_object", get_object)


def test_a_reservation_during_the_edit_counts_for_the_capacity_check(
    web, world, booking_during_edit
):
    reserve_two(world)
    response = web.post(
        url(GroupSession, "change", world.session.pk), session_form(world.session, capacity=2)
    )
    assert response.status_code == 200
    assert response.context["adminform"].form.has_error("capacity")
    world.session.refresh_from_db()
    assert (world.session.capacity, world.session.reserved_count) == (4, 3)


def test_saving_the_form_keeps_a_reservation_made_during_the_edit(web, world, booking_during_edit):
    reserve_two(world)
    response = web.post(
        url(GroupSession, "change", world.session.pk),
        session_form(world.session, title="Evening squad"),
    )
    assert response.status_code == 302
    world.session.refresh_from_db()
    # The admin's copy of the row said 2; the services' count, 3, is what was kept.
    assert (world.session.title, world.session.reserved_count) == ("Evening squad", 3)


def test_status_is_not_editable_in_the_form(web, world):
    reserve_two(world)
    response = web.post(
        url(GroupSession, "change", world.session.pk),
        session_form(world.session, status="cancelled"),
    )
    assert response.status_code == 302
    world.session.refresh_from_db()
    assert world.session.status == GroupSession.Status.SCHEDULED
    assert world.session.reserved_count == 2


def test_a_court_clash_is_a_form_error(web, world):
    world.session.court = world.court
    world.session.save()
    clash = make_session(
        world.academy,
        session_type=world.group_type,
        starts_at=world.session.starts_at + timedelta(minutes=30),
    )

    response = web.post(
        url(GroupSession, "change", clash.pk), session_form(clash, court=world.court.pk)
    )

    assert response.status_code == 200
    error = str(response.context["adminform"].form.errors["court"])
    assert f"{world.court.name} is in use then: {world.group_type.name}" in error
    clash.refresh_from_db()
    assert clash.court is None


def test_a_coach_of_another_academy_cannot_be_assigned(web, world):
    data = session_form(world.session, coaches=[world.coach.pk, world.foreign_coach.pk])
    response = web.post(url(GroupSession, "change", world.session.pk), data)
    assert response.status_code == 200
    assert "That belongs to another academy." in str(response.context["adminform"].form.errors)
    assert not StaffAssignment.objects.filter(coach=world.foreign_coach, session=world.session)


def test_a_busy_coach_is_a_form_error_naming_the_clash(web, world):
    data = session_form(world.session2, coaches=[world.coach.pk])
    data["starts_at_1"] = timezone.localtime(world.session.starts_at).time().isoformat()
    data["starts_at_0"] = timezone.localtime(world.session.starts_at).date().isoformat()
    data["ends_at_0"] = timezone.localtime(world.session.ends_at).date().isoformat()
    data["ends_at_1"] = timezone.localtime(world.session.ends_at).time().isoformat()
    response = web.post(url(GroupSession, "change", world.session2.pk), data)
    assert response.status_code == 200
    error = str(response.context["adminform"].form.errors["coaches"])
    assert f"{world.coach.display_name} is teaching then" in error
    assert list(world.session2.coaches.all()) == [world.coach2]


def test_adding_a_session_in_the_admin(web, world):
    starts_at = timezone.localtime(local(world.academy, days_ahead(6), 18))
    ends_at = starts_at + timedelta(hours=1)
    data = {
        "academy": world.academy.pk,
        "session_type": world.group_type.pk,
        "title": "",
        "starts_at_0": starts_at.date().isoformat(),
        "starts_at_1": starts_at.time().isoformat(),
        "ends_at_0": ends_at.date().isoformat(),
        "ends_at_1": ends_at.time().isoformat(),
        "court": world.court.pk,
        "capacity": 6,
        "coaches": [world.coach.pk],
    }
    response = web.post(url(GroupSession, "add"), data)
    assert response.status_code == 302
    session = GroupSession.objects.get(starts_at=starts_at, court=world.court)
    assert (session.reserved_count, session.status) == (0, GroupSession.Status.SCHEDULED)
    assert list(session.coaches.all()) == [world.coach]


def test_cancel_sessions_action_cancels_the_reservations_too(web, world):
    reserve_two(world)
    response = web.post(
        url(GroupSession, "changelist"),
        {"action": "cancel_sessions", "_selected_action": [world.session.pk]},
        follow=True,
    )
    assert response.status_code == 200
    assert "Cancelled 1 session(s)." in messages_of(response)
    world.session.refresh_from_db()
    assert world.session.status == GroupSession.Status.CANCELLED
    assert world.session.reserved_count == 0
    assert not world.session.reservations.filter(status=SessionReservation.Status.RESERVED)


def test_cancelling_a_cancelled_session_is_a_message_not_a_500(web, world):
    world.session.status = GroupSession.Status.CANCELLED
    world.session.save()
    response = web.post(
        url(GroupSession, "changelist"),
        {"action": "cancel_sessions", "_selected_action": [world.session.pk]},
        follow=True,
    )
    assert response.status_code == 200
    assert any("already been cancelled" in m for m in messages_of(response))


def test_a_session_is_deleted_only_without_reservations(web, world):
    empty = make_session(world.academy, session_type=world.group_type)
    assert web.post(url(GroupSession, "delete", empty.pk), {"post": "yes"}).status_code == 302
    assert not GroupSession.objects.filter(pk=empty.pk).exists()

    reserve_two(world)
    response = web.post(url(GroupSession, "delete", world.session.pk), {"post": "yes"})
    assert response.status_code == 403
    assert GroupSession.objects.filter(pk=world.session.pk).exists()


def test_sessions_have_no_bulk_delete(web, world):
    response = web.get(url(GroupSession, "changelist"))
    actions = [name for name, _ in response.context["action_form"].fields["action"].choices]
    assert "delete_selected" not in actions
    assert "cancel_sessions" in actions


# -- reservations --------------------------------------------------------------------------------


def test_adding_a_reservation_goes_through_the_service(web, world):
    response = web.post(
        url(SessionReservation, "add"), {"player": world.player.pk, "session": world.session.pk}
    )
    assert response.status_code == 302
    reservation = SessionReservation.objects.get(player=world.player, session=world.session)
    assert reservation.is_active
    assert reservation.reserved_by == world.admin_user
    world.session.refresh_from_db()
    assert world.session.reserved_count == 1


def test_adding_a_duplicate_reservation_shows_the_error_and_adds_nothing(web, world):
    reservation_create(player=world.player, session=world.session, actor=world.player_user)

    response = web.post(
        url(SessionReservation, "add"), {"player": world.player.pk, "session": world.session.pk}
    )

    assert response.status_code == 200
    form = response.context["adminform"].form
    assert form.non_field_errors() == ["This player already has a reservation for this session."]
    assert not form.has_error("player") and not form.has_error("session")
    assert SessionReservation.objects.count() == 1
    world.session.refresh_from_db()
    assert world.session.reserved_count == 1


def test_adding_to_a_full_session_is_refused(web, world):
    world.session.capacity = 2
    world.session.save()
    reserve_two(world)

    response = web.post(
        url(SessionReservation, "add"),
        {"player": world.child2.pk, "session": world.session.pk},
    )

    assert response.status_code == 200
    assert "This session is full." in str(response.context["adminform"].form.non_field_errors())
    assert SessionReservation.objects.count() == 2


def test_reservations_are_view_only_and_never_deleted(web, world, rows):
    reservation = rows.reservation
    page = web.get(url(SessionReservation, "change", reservation.pk))
    assert page.status_code == 200
    assert not page.context["has_change_permission"]
    assert web.post(url(SessionReservation, "change", reservation.pk), {}).status_code == 403
    assert web.post(url(SessionReservation, "delete", reservation.pk)).status_code == 403
    assert SessionReservation.objects.filter(pk=reservation.pk).exists()


def test_cancel_reservations_action_fixes_the_count(web, world):
    reserve_two(world)
    reservation = SessionReservation.objects.get(player=world.player, session=world.session)

    response = web.post(
        url(SessionReservation, "changelist"),
        {"action": "cancel_reservations", "_selected_action": [reservation.pk]},
        follow=True,
    )

    assert "Cancelled 1 reservation(s)." in messages_of(response)
    reservation.refresh_from_db()
    assert reservation.status == SessionReservation.Status.CANCELLED
    assert reservation.cancelled_by == world.admin_user
    world.session.refresh_from_db()
    assert world.session.reserved_count == 1

    # Again: refused with a message, and the count does not move.
    response = web.post(
        url(SessionReservation, "changelist"),
        {"action": "cancel_reservations", "_selected_action": [reservation.pk]},
        follow=True,
    )
    assert response.status_code == 200
    assert any("already been cancelled" in m for m in messages_of(response))
    world.session.refresh_from_db()
    assert world.session.reserved_count == 1


def test_deleting_a_player_with_reservations_is_refused(web, world):
    reserve_two(world)
    delete_url = url(Player, "delete", world.player.pk)
    # The page says why: deleting would delete reservation rows, which the admin may not.
    page = web.get(delete_url)
    assert page.status_code == 200
    assert page.context["perms_lacking"] == {"session reservation"}
    assert web.post(delete_url, {"post": "yes"}).status_code == 403
    assert Player.objects.filter(pk=world.player.pk).exists()
    world.session.refresh_from_db()
    assert world.session.reserved_count == 2


# -- individual lessons --------------------------------------------------------------------------


def booking_form(world, hour: int, **changes) -> dict:
    starts_at = timezone.localtime(local(world.academy, days_ahead(2), hour))
    data = {
        "player": world.child.pk,
        "coach": world.coach.pk,
        "session_type": world.lesson_type.pk,
        "court": "",
        "starts_at_0": starts_at.date().isoformat(),
        "starts_at_1": starts_at.time().isoformat(),
    }
    data.update(changes)
    return data


def test_adding_a_lesson_goes_through_the_service(web, world):
    response = web.post(url(IndividualBooking, "add"), booking_form(world, 11))
    assert response.status_code == 302
    booking = IndividualBooking.objects.get()
    assert booking.starts_at == local(world.academy, days_ahead(2), 11)
    assert booking.ends_at - booking.starts_at == timedelta(minutes=60)
    assert booking.booked_by == world.admin_user


def test_an_overlapping_lesson_is_a_form_error(web, world):
    assert web.post(url(IndividualBooking, "add"), booking_form(world, 11)).status_code == 302

    response = web.post(
        url(IndividualBooking, "add"), booking_form(world, 11, player=world.player.pk)
    )

    assert response.status_code == 200
    assert "That time slot has just been taken." in str(
        response.context["adminform"].form.non_field_errors()
    )
    assert IndividualBooking.objects.count() == 1


def test_a_time_the_coach_does_not_offer_is_a_form_error(web, world):
    data = booking_form(world, 11)
    data["starts_at_1"] = "11:10:00"
    response = web.post(url(IndividualBooking, "add"), data)
    assert response.status_code == 200
    assert "does not offer a lesson" in str(response.context["adminform"].form.non_field_errors())
    assert not IndividualBooking.objects.exists()


def test_cancel_lessons_action(web, world, rows):
    booking = rows.booking
    response = web.post(
        url(IndividualBooking, "changelist"),
        {"action": "cancel_bookings", "_selected_action": [booking.pk]},
        follow=True,
    )
    assert "Cancelled 1 lesson(s)." in messages_of(response)
    booking.refresh_from_db()
    assert booking.status == IndividualBooking.Status.CANCELLED
    assert web.post(url(IndividualBooking, "delete", booking.pk)).status_code == 403


def test_idempotency_keys_are_read_only(web, rows):
    key = IdempotencyKey.objects.get()
    assert web.post(url(IdempotencyKey, "change", key.pk), {"key": "x"}).status_code == 403
    key.refresh_from_db()
    assert key.key == "k1"


def test_court_admin_lists_courts(web, world):
    Court.objects.create(academy=world.other_academy, name="Centre court")
    response = web.get(url(Court, "changelist"), {"q": "Centre"})
    assert [court.name for court in response.context["cl"].result_list] == ["Centre court"]


def test_a_failed_email_can_be_sent_again(web, rows):
    email = rows.email
    response = web.post(
        url(OutgoingEmail, "changelist"),
        {"action": "send_again", "_selected_action": [email.pk]},
        follow=True,
    )
    assert "1 email(s) will be sent again." in messages_of(response)
    email.refresh_from_db()
    assert (email.status, email.attempts) == (OutgoingEmail.Status.PENDING, 0)
