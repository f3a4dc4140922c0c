"""Small things that read wrong (issue 16): one way of writing a time range, the academy's date
words everywhere (config/formats), the session type named as text (occupancy is the only
colour), "coaches" in the admin."""

from __future__ import annotations

from datetime import date, datetime, time
from zoneinfo import ZoneInfo

import pytest
from django import forms
from django.template import Context, Template
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import date_format

from scheduling.models import Coach
from scheduling.times import day_and_time, short_date, time_range
from tests.factories import days_ahead, local, make_session, reserve

DASH = "\u2013"  # the range's en dash, no space around it
LONDON = ZoneInfo("Europe/London")
MONDAY = date(2026, 11, 30)  # a fixed Monday: these words do not depend on today


def render(source: str, **context) -> str:
    return Template(source).render(Context(context))


# The range filter and its plain-text twin ----------------------------------------------------


def test_the_range_filter_writes_both_times_with_no_space_around_the_dash():
    starts = datetime(2026, 11, 30, 7, 0, tzinfo=LONDON)
    ends = datetime(2026, 11, 30, 8, 0, tzinfo=LONDON)
    with timezone.override(LONDON):
        html = render("{{ a|timerange:b }}", a=starts, b=ends)
        text = render("{{ a|timerange:b|striptags }}", a=starts, b=ends)
    assert text == f"07:00{DASH}08:00"
    assert f'<time datetime="{starts.isoformat()}">07:00</time>{DASH}<time' in html
    assert " " + DASH not in html and DASH + " " not in html


def test_the_range_filter_shows_both_ends_in_the_current_time_zone():
    starts = datetime(2026, 11, 30, 7, 0, tzinfo=ZoneInfo("UTC"))
    ends = datetime(2026, 11, 30, 8, 30, tzinfo=ZoneInfo("UTC"))
    with timezone.override(ZoneInfo("Europe/Madrid")):  # UTC+1 in November
        text = render("{{ a|timerange:b|striptags }}", a=starts, b=ends)
    assert text == f"08:00{DASH}09:30"


def test_the_range_filter_takes_clock_times_too():
    assert render("{{ a|timerange:b|striptags }}", a=time(7), b=time(8)) == f"07:00{DASH}08:00"


def test_python_text_uses_the_same_words():
    starts = datetime(2026, 11, 30, 7, 0, tzinfo=LONDON)
    assert time_range(starts, datetime(2026, 11, 30, 8, 0, tzinfo=LONDON)) == f"07:00{DASH}08:00"
    assert day_and_time(starts) == "Mon 30 Nov, 07:00"
    assert short_date(MONDAY) == "Mon 30 Nov"


# The academy's date format (FORMAT_MODULE_PATH) ----------------------------------------------


def test_dates_read_day_first_in_the_academys_words():
    assert date_format(MONDAY) == "Mon 30 Nov 2026"
    assert date_format(MONDAY, "SHORT_DATE_FORMAT") == "Mon 30 Nov"
    assert render("{{ d|date }}", d=MONDAY) == "Mon 30 Nov 2026"


def test_a_typed_date_is_read_day_first_never_month_first():
    field = forms.DateField()
    assert field.clean("2026-11-30") == MONDAY
    assert field.clean("30/11/2026") == MONDAY
    with pytest.raises(forms.ValidationError):
        field.clean("11/30/2026")


# Pages ------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_staff_day_names_the_date_beside_its_field_and_writes_ranges_one_way(client, world):
    day = days_ahead(3)  # world.session: 10:00 for an hour, in the academy's zone
    world.session.title = "Junior squad"  # a titled session: its type is named beside it
    world.session.save(update_fields=["title"])
    client.force_login(world.staff_user)
    page = client.get(reverse("staff_sessions"), {"date": day.isoformat()}).content.decode()
    assert f'id="f-date-read">{date_format(day, "DATE_FORMAT")}</span>' in page
    assert 'aria-describedby="f-date-read"' in page
    assert f"10:00</time>{DASH}<time" in page
    assert f'<span class="type-mark">{world.group_type.name}</span>' in page
    assert "--type-colour" not in page  # the type's colour paints no stripe


@pytest.mark.django_db
def test_the_players_schedule_and_bookings_use_the_academys_words(client, world):
    day = days_ahead(3)
    reserve(world.session, world.player)
    client.force_login(world.player_user)
    schedule = client.get(reverse("player_schedule"), {"date": day.isoformat()}).content.decode()
    assert f'id="f-date-read">{date_format(day, "DATE_FORMAT")}</span>' in schedule
    assert f"10:00</time>{DASH}<time" in schedule
    home = client.get(reverse("player_home")).content.decode()
    assert f"{date_format(day, 'SHORT_DATE_FORMAT')}, " in home
    assert f"10:00</time>{DASH}<time" in home


@pytest.mark.django_db
def test_a_later_session_reads_its_own_range(client, world):
    starts = local(world.academy, days_ahead(5), 17, 30)
    make_session(world.academy, coaches=[world.coach], starts_at=starts, minutes=90)
    client.force_login(world.staff_user)
    page = client.get(reverse("staff_sessions"), {"date": days_ahead(5).isoformat()})
    assert f"17:30</time>{DASH}<time" in page.content.decode()
    assert "19:00</time>" in page.content.decode()


# The admin --------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_admin_says_coaches(client, world):
    assert Coach._meta.verbose_name_plural == "coaches"
    client.force_login(world.admin_user)
    page = client.get(reverse("admin:index")).content.decode()
    assert "Coaches" in page and "Coachs" not in page


def test_a_form_date_picker_has_the_day_in_words_beside_it():
    from bookings.forms.widgets import DayInput

    html = DayInput().render("day", MONDAY, {"id": "f-day"})
    assert 'type="date"' in html and 'value="2026-11-30"' in html
    assert 'aria-describedby="f-day-read"' in html
    assert '<span class="field-hint" id="f-day-read">Mon 30 Nov 2026</span>' in html
    assert "field-hint" not in DayInput().render("day", "not a day", {"id": "f-day"})


@pytest.mark.django_db
def test_the_new_session_form_names_its_day(client, world):
    day = days_ahead(6)
    client.force_login(world.staff_user)
    page = client.get(reverse("session_new"), {"date": day.isoformat()}).content.decode()
    assert f">{date_format(day)}</span>" in page


def test_no_template_comment_shows_on_a_page(client):
    """Django's {# #} comments end at the line's end: one spanning lines is printed as text."""
    page = client.get(reverse("login")).content.decode()
    assert "{#" not in page and "#}" not in page and "{%" not in page
