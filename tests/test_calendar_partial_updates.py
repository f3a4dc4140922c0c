"""A push carries only what a change touched: a card, or a day's column (calendars, the coach's
day and the day grid), and a reservation made or cancelled does not touch lesson slots."""

from datetime import timedelta

import pytest

from bookings.live.calendars import CoachCalendar, CoachDay, StaffCalendar
from bookings.live.changes import Change
from bookings.live.grids import DayGrid, LessonSlots
from realtime import fragments
from realtime.publisher import affected_keys
from realtime.render_pass import one_pass
from realtime.streams import dom_id
from tests.factories import make_session


def week_key(world, coach=None):
    """The key of the world's session's week: the staff calendar, or a coach's."""
    first = world.session.starts_at.astimezone(world.academy.tz).date()
    monday = first - timedelta(days=first.weekday())
    if coach is None:
        return StaffCalendar(world.academy.pk, monday, 7).key, monday
    return CoachCalendar(coach.pk, world.academy.pk, monday, 7).key, monday


@pytest.mark.django_db
def test_an_occupancy_change_pushes_only_that_sessions_card(world):
    key, _ = week_key(world)
    other = make_session(
        world.academy,
        coaches=[world.coach2],
        session_type=world.group_type,
        starts_at=world.session.starts_at + timedelta(hours=3),
    )
    fragment = fragments.resolve(key)
    change = Change(
        world.academy.pk, session_ids={world.session.pk}, occupancy_only=True, group_sessions=True
    )
    html = fragment.render_change(change)
    assert f'id="cal-g{world.session.pk}" hx-swap-oob="outerHTML"' in html
    assert f"cal-g{other.pk}" not in html
    assert "calendar-7d" not in html  # not the whole week


@pytest.mark.django_db
def test_a_structural_change_pushes_the_touched_days_columns(world):
    key, _ = week_key(world)
    day = world.session.starts_at.astimezone(world.academy.tz).date()
    fragment = fragments.resolve(key)
    html = fragment.render_change(Change(world.academy.pk, days={day}, group_sessions=True))
    # that day's cell in every row (the rows are the academy's courts, and "No court")
    assert html.count("<td ") == world.academy.courts.count() + 1
    assert html.count(f'-{day:%Y%m%d}" hx-swap-oob="outerHTML"') == html.count("<td ")
    assert f'id="cal-g{world.session.pk}"' in html
    # a change on every day of the week (or on unknown days) re-renders the whole fragment
    whole = fragment.render_change(Change(world.academy.pk, days=None, group_sessions=True))
    assert whole.startswith(f'<div id="{dom_id(key)}"') and "calendar-7d" in whole


@pytest.mark.django_db
def test_calendar_cards_carry_no_names_and_the_same_html_for_every_viewer(world):
    """Names are on the details view only: a week card is one HTML for staff and coaches."""
    from tests.factories import reserve

    reserve(world.session, world.player)
    change = Change(
        world.academy.pk, session_ids={world.session.pk}, occupancy_only=True, group_sessions=True
    )
    staff = fragments.resolve(week_key(world)[0]).render_change(change)
    coach = fragments.resolve(week_key(world, world.coach)[0]).render_change(change)
    assert staff == coach and world.player.full_name not in staff
    assert f'href="/calendar/sessions/{world.session.pk}/"' in staff


@pytest.mark.django_db
def test_the_day_view_pushes_one_card_placed_in_its_court_and_time(world):
    from tests.factories import reserve

    day = day_of(world)
    key = StaffCalendar(world.academy.pk, day, 1).key
    fragment = fragments.resolve(key)
    whole = fragment.render()
    assert 'class="cal-daygrid"' in whole and f'id="cal-g{world.session.pk}"' in whole
    reserve(world.session, world.player)
    html = fragment.render_change(occupancy_change(world, world.session))
    assert html.count("<article ") == 1 and "grid-row:" in html and "/4<" in html


def day_of(world):
    return world.session.starts_at.astimezone(world.academy.tz).date()


def occupancy_change(world, *sessions):
    return Change(
        world.academy.pk,
        days={day_of(world)},
        coach_ids={world.coach.pk},
        session_ids={s.pk for s in sessions},
        occupancy_only=True,
        group_sessions=True,
    )


@pytest.mark.django_db
def test_the_day_grid_pushes_only_the_touched_sessions_row(world):
    from tests.factories import reserve

    reserve(world.session, world.player)
    fragment = fragments.resolve(DayGrid(world.academy.pk, day_of(world)).key)
    whole = fragment.render()
    assert f'<li id="day-s{world.session.pk}" class="session' in whole  # the row the push replaces
    html = fragment.render_change(occupancy_change(world, world.session))
    assert html.lstrip().startswith(f'<li id="day-s{world.session.pk}" hx-swap-oob="outerHTML"')
    assert html.count("<li ") == 1
    assert "3 of 4 spots left" in html
    # Anything else (a session added, moved or cancelled) re-renders the whole grid.
    structural = Change(world.academy.pk, days={day_of(world)}, group_sessions=True)
    assert fragment.render_change(structural).startswith(
        f'<div id="{dom_id(fragment.key)}" class="live-fragment"'
    )


@pytest.mark.django_db
def test_the_coachs_day_pushes_only_the_touched_card(world):
    from tests.factories import reserve

    reserve(world.session, world.player)
    key = CoachDay(world.coach.pk, day_of(world)).key
    html = fragments.resolve(key).render_change(occupancy_change(world, world.session))
    card = f'<article id="cal-g{world.session.pk}" hx-swap-oob="outerHTML"'
    assert html.lstrip().startswith(card)
    assert world.player.full_name in html  # their own session: names
    # another coach's session touched in the same batch is not on this coach's day
    other = fragments.resolve(key).render_change(occupancy_change(world, world.session2))
    assert other == ""


@pytest.mark.django_db
def test_a_reservation_does_not_touch_lesson_slots(world):
    key = LessonSlots(world.coach.pk, world.lesson_type.pk, day_of(world)).key
    occupancy = occupancy_change(world, world.session)
    assert affected_keys([key], occupancy) == []
    moved = Change(
        world.academy.pk, days={day_of(world)}, coach_ids={world.coach.pk}, group_sessions=True
    )
    assert affected_keys([key], moved) == [key]


@pytest.mark.django_db
def test_one_pass_shares_reads_and_renders_but_never_names(world, django_assert_max_num_queries):
    """In one publisher pass the staff week (names), the session's coach (names) and another
    coach (occupancy only) share one read of the touched session, and the shared cards never
    carry names to a viewer who may not read them."""
    from tests.factories import reserve

    reserve(world.session, world.player)
    staff_key, _ = week_key(world)
    coach_key, _ = week_key(world, world.coach)
    other_key, _ = week_key(world, world.coach2)
    change = occupancy_change(world, world.session)
    with one_pass():
        keys = [staff_key, coach_key, other_key, staff_key, other_key]
        found = [fragments.resolve(key) for key in keys]
        # after the first resolve: one read of the touched session (sessions, coaches,
        # reservations); the second round only hits the cache
        with django_assert_max_num_queries(4):
            pushed = [f.render_change(change) for f in found]
    staff, coach, other, staff_again, other_again = pushed
    assert world.player.full_name not in staff + coach + other  # names: on the details view
    assert "1/4" in other and staff == coach == other  # one card, shared
    assert staff_again == staff and other_again == other
    # the same renders outside a pass (nothing cached) are identical
    assert [fragments.resolve(k).render_change(change) for k in keys] == pushed


@pytest.mark.django_db
def test_filters_and_rows_by_coach_are_part_of_the_live_key(world):
    """A filtered week shows, and is pushed, only what matches; rows by coach name them."""
    _, monday = week_key(world)
    key = StaffCalendar(world.academy.pk, monday, 7, "coach", world.coach.pk, 0, 0).key
    fragment = fragments.resolve(key)
    whole = fragment.render()
    assert f'id="cal-g{world.session.pk}"' in whole and f"cal-g{world.session2.pk}" not in whole
    assert f'<th scope="row">{world.coach.display_name}</th>' in whole
    assert f'<th scope="row">{world.coach2.display_name}</th>' not in whole
    theirs = Change(
        world.academy.pk, session_ids={world.session2.pk}, occupancy_only=True, group_sessions=True
    )
    assert fragment.render_change(theirs) == ""  # coach2's session: not on this filtered week


@pytest.mark.django_db
def test_the_calendar_page_takes_its_filters_from_the_query_and_ignores_bad_ones(world):
    from django.test import Client

    client = Client()
    client.force_login(world.staff_user)
    day = day_of(world)
    url = f"/staff/calendar/?date={day}&by=coach&coach={world.coach2.pk}&court=x1&type=99999999"
    html = client.get(url).content.decode()
    monday = day - timedelta(days=day.weekday())
    key = StaffCalendar(world.academy.pk, monday, 7, "coach", world.coach2.pk, 0, 0).key
    assert f'data-live="{key}"' in html
    assert f'<option value="{world.coach2.pk}" selected>' in html
    # a coach of no academy of this page's (or no number at all) is no filter
    html = client.get(f"/staff/calendar/?date={day}&coach=99999999&type=-1").content.decode()
    assert f'data-live="{StaffCalendar(world.academy.pk, monday, 7).key}"' in html


@pytest.mark.django_db
def test_todays_column_is_marked(world):
    from django.utils import timezone

    today = timezone.localdate(timezone.now(), world.academy.tz)
    monday = today - timedelta(days=today.weekday())
    html = fragments.resolve(StaffCalendar(world.academy.pk, monday, 7).key).render()
    assert html.count('aria-current="date"') == 1 and "Today</span>" in html
    assert html.count(f'-{today:%Y%m%d}" class="today"') == world.academy.courts.count() + 1
