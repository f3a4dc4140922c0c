"""The schedule's forms: a group session (new, or one session or a series), a coach's notes, a
coach's lesson hours and time off. They parse and bound the input; the services decide.

A session form's fields are the plan's fields one for one (bookings.services.sessions.
PLAN_FIELDS), so an edit form can carry what it started from (`base_<field>`) and a refused
stale save can offer "take theirs" per field by putting the stored value back in its input.
"""

from __future__ import annotations

import re
from datetime import date, datetime, time, tzinfo
from typing import Any

from django import forms
from django.db.models import QuerySet

from bookings.dates import within_range
from bookings.forms.widgets import DayInput
from bookings.services.sessions import PLAN_FIELDS, SessionPlan
from scheduling.models import Academy, Coach, Court, SessionType, Weekday

MAX_NOTES = 2000


def _date_input() -> forms.DateInput:
    return DayInput()


def _time_input() -> forms.TimeInput:
    return forms.TimeInput(attrs={"type": "time"}, format="%H:%M")


def _in_range(day: date | None) -> date | None:
    if day is not None and not within_range(day):
        raise forms.ValidationError("Choose a date within a year of today.")
    return day


def _offer(form: forms.Form, name: str, queryset: QuerySet[Any]) -> None:
    """The rows a choice field offers: the academy's own only."""
    field = form.fields[name]
    if isinstance(field, forms.ModelChoiceField):  # ModelMultipleChoiceField too
        field.queryset = queryset


def local(day: date, wall: time, tz: tzinfo) -> datetime:
    return datetime.combine(day, wall, tzinfo=tz)


class SessionForm(forms.Form):
    session_type = forms.ModelChoiceField(queryset=SessionType.objects.none(), empty_label=None)
    title = forms.CharField(
        max_length=120, required=False, help_text="Leave empty to use the type's name."
    )
    day = forms.DateField(label="Date", widget=_date_input())
    start = forms.TimeField(label="Starts", widget=_time_input())
    end = forms.TimeField(label="Ends", widget=_time_input())
    court = forms.ModelChoiceField(
        queryset=Court.objects.none(), required=False, empty_label="No court"
    )
    coaches = forms.ModelMultipleChoiceField(
        queryset=Coach.objects.none(), required=False, widget=forms.CheckboxSelectMultiple
    )
    capacity = forms.IntegerField(min_value=1, max_value=500)
    notes = forms.CharField(
        max_length=MAX_NOTES,
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="For the coaches and the front desk.",
    )

    def __init__(self, *args: Any, academy: Academy, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.academy = academy
        _offer(self, "session_type", academy.session_types.filter(kind=SessionType.Kind.GROUP))
        _offer(self, "court", Court.objects.filter(academy=academy, is_active=True))
        _offer(self, "coaches", Coach.objects.filter(academy=academy, is_active=True))

    def clean_day(self) -> date | None:
        return _in_range(self.cleaned_data.get("day"))

    def clean_notes(self) -> str:
        return self.cleaned_data.get("notes", "").replace("\r\n", "\n").strip()

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        start, end = cleaned.get("start"), cleaned.get("end")
        if start is not None and end is not None and end <= start:
            self.add_error("end", "A session must end after it starts.")
        return cleaned

    def plan(self) -> SessionPlan:
        data, tz = self.cleaned_data, self.academy.tz
        return SessionPlan(
            session_type=data["session_type"],
            starts_at=local(data["day"], data["start"], tz),
            ends_at=local(data["day"], data["end"], tz),
            capacity=data["capacity"],
            court=data.get("court"),
            coaches=list(data.get("coaches") or []),
            title=data.get("title", ""),
            notes=data.get("notes", ""),
        )


_DATES = re.compile(r"\d{4}-\d{2}-\d{2}")


class NewSessionForm(SessionForm):
    repeat_until = forms.DateField(
        label="Repeat weekly until",
        required=False,
        widget=_date_input(),
        help_text="Leave empty for a single session.",
    )
    skip = forms.CharField(
        label="Not on",
        max_length=400,
        required=False,
        help_text="Dates without a session, e.g. 2026-10-27, 2026-11-03.",
    )

    def clean_repeat_until(self) -> date | None:
        return _in_range(self.cleaned_data.get("repeat_until"))

    def clean_skip(self) -> list[date]:
        text = self.cleaned_data.get("skip", "")
        leftover = _DATES.sub("", text).replace(",", " ").strip()
        if leftover:
            raise forms.ValidationError("Write dates as YYYY-MM-DD, separated by commas.")
        try:
            return sorted({date.fromisoformat(d) for d in _DATES.findall(text)})
        except ValueError as exc:
            raise forms.ValidationError("One of those dates does not exist.") from exc

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        if cleaned.get("skip") and not cleaned.get("repeat_until"):
            self.add_error("skip", "Only a weekly series has dates to skip.")
        return cleaned


class BaseFields(forms.Form):
    """What an edit form started from: the version and each field as it was shown."""

    version = forms.IntegerField(min_value=1, widget=forms.HiddenInput)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for name in self.base_names:
            self.fields[f"base_{name}"] = forms.CharField(
                required=False, max_length=MAX_NOTES + 10, widget=forms.HiddenInput, strip=False
            )

    base_names: tuple[str, ...] = tuple(PLAN_FIELDS)

    def base(self) -> dict[str, str]:
        return {name: self.cleaned_data.get(f"base_{name}", "") for name in self.base_names}


class EditSessionForm(SessionForm, BaseFields):
    scope = forms.ChoiceField(
        label="Apply to",
        choices=[
            ("one", "This session only"),
            ("following", "This and the following sessions of the series"),
        ],
        initial="one",
        widget=forms.RadioSelect,
    )
    confirm_moves = forms.BooleanField(
        label="Move sessions that have bookings to the new time", required=False
    )


class NotesForm(BaseFields):
    """A coach's edit of their own session: the notes alone."""

    base_names = ("notes",)
    notes = forms.CharField(
        max_length=MAX_NOTES, required=False, widget=forms.Textarea(attrs={"rows": 6})
    )

    def clean_notes(self) -> str:
        return self.cleaned_data.get("notes", "").replace("\r\n", "\n").strip()


class AvailabilityForm(forms.Form):
    session_type = forms.ModelChoiceField(
        label="Lesson type", queryset=SessionType.objects.none(), empty_label=None
    )
    weekday = forms.TypedChoiceField(label="Day", choices=Weekday.choices, coerce=int)
    start_time = forms.TimeField(label="From", widget=_time_input())
    end_time = forms.TimeField(label="To", widget=_time_input())

    def __init__(self, *args: Any, coach: Coach, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _offer(
            self,
            "session_type",
            SessionType.objects.filter(
                academy_id=coach.academy_id, kind=SessionType.Kind.INDIVIDUAL
            ),
        )


class TimeOffForm(forms.Form):
    from_day = forms.DateField(label="From", widget=_date_input())
    from_time = forms.TimeField(label="at", widget=_time_input(), initial=time(0, 0))
    to_day = forms.DateField(label="To", widget=_date_input())
    to_time = forms.TimeField(label="at", widget=_time_input(), initial=time(23, 59))
    reason = forms.CharField(max_length=200, required=False)

    def clean_from_day(self) -> date | None:
        return _in_range(self.cleaned_data.get("from_day"))

    def clean_to_day(self) -> date | None:
        return _in_range(self.cleaned_data.get("to_day"))

    def span(self, tz: tzinfo) -> tuple[datetime, datetime]:
        data = self.cleaned_data
        return local(data["from_day"], data["from_time"], tz), local(
            data["to_day"], data["to_time"], tz
        )
