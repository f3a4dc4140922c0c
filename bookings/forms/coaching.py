"""Forms of the pages that take more than a button: a rating, a goal. They only parse; the
services (bookings.services) decide and refuse with their own words."""

from __future__ import annotations

from django import forms
from django.utils import timezone

from bookings.forms.widgets import DayInput
from bookings.models import Feedback, Goal
from bookings.services.goals import TITLE_MAX, GoalPlan

RATINGS = [
    (5, "5: excellent"),
    (4, "4: good"),
    (3, "3: all right"),
    (2, "2: not great"),
    (1, "1: poor"),
]


class FeedbackForm(forms.Form):
    rating = forms.TypedChoiceField(
        choices=RATINGS, coerce=int, widget=forms.RadioSelect, label="Your rating"
    )
    comment = forms.CharField(
        required=False,
        max_length=Feedback.MAX_COMMENT,
        strip=True,
        label="Comment (optional)",
        widget=forms.Textarea(attrs={"rows": 4, "maxlength": Feedback.MAX_COMMENT}),
        help_text=f"Up to {Feedback.MAX_COMMENT} characters. Your coach and the academy read it.",
    )


class GoalForm(forms.Form):
    title = forms.CharField(max_length=TITLE_MAX, label="Goal")
    target_date = forms.DateField(required=False, label="Target date", widget=DayInput())
    progress = forms.IntegerField(min_value=0, max_value=100, initial=0, label="Progress (%)")
    notes = forms.CharField(
        required=False,
        max_length=Goal.MAX_NOTES,
        label="Notes",
        widget=forms.Textarea(attrs={"rows": 4, "maxlength": Goal.MAX_NOTES}),
    )

    def clean_target_date(self):  # type: ignore[no-untyped-def]
        day = self.cleaned_data.get("target_date")
        today = timezone.localdate()
        if day is not None and abs((day - today).days) > 5 * 366:
            raise forms.ValidationError("Choose a date within five years.")
        return day

    def plan(self) -> GoalPlan:
        data = self.cleaned_data
        return GoalPlan(
            title=data["title"],
            target_date=data["target_date"],
            progress=data["progress"],
            notes=data["notes"],
        )


class NewGoalForm(GoalForm):
    player = forms.TypedChoiceField(coerce=int, label="Player")

    field_order = ["player", "title", "target_date", "progress", "notes"]

    def __init__(self, *args, players=(), **kwargs) -> None:  # type: ignore[no-untyped-def]
        super().__init__(*args, **kwargs)
        field = self.fields["player"]
        assert isinstance(field, forms.ChoiceField)
        field.choices = [(p.pk, p.full_name) for p in players]
