"""Django admin for the scheduling app: plain ModelAdmins.

Group sessions are edited in bookings/admin.py, through the booking services: their
reservations, capacity and clashes belong to bookings.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin
from django.utils.html import format_html

from scheduling.models import (
    Academy,
    Coach,
    CoachAvailability,
    CoachTimeOff,
    Court,
    SessionSeries,
    SessionType,
    StaffMember,
)


@admin.register(Academy)
class AcademyAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "slug",
        "time_zone",
        "cancellation_cutoff_hours",
        "booking_horizon_days",
        "min_notice_minutes",
    ]
    search_fields = ["name", "slug"]
    prepopulated_fields = {"slug": ["name"]}


@admin.register(StaffMember)
class StaffMemberAdmin(admin.ModelAdmin):
    list_display = ["user", "academy"]
    list_filter = ["academy"]
    list_select_related = ["user", "academy"]
    search_fields = ["user__username", "user__first_name", "user__last_name", "user__email"]
    autocomplete_fields = ["user", "academy"]


@admin.register(Coach)
class CoachAdmin(admin.ModelAdmin):
    list_display = ["display_name", "user", "academy", "is_active"]
    list_filter = ["academy", "is_active"]
    list_select_related = ["user", "academy"]
    search_fields = ["display_name", "user__username", "user__email"]
    autocomplete_fields = ["user", "academy"]


@admin.register(Court)
class CourtAdmin(admin.ModelAdmin):
    list_display = ["name", "academy", "is_active"]
    list_filter = ["academy", "is_active"]
    list_select_related = ["academy"]
    search_fields = ["name", "academy__name"]


@admin.register(SessionType)
class SessionTypeAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "academy",
        "kind",
        "duration_minutes",
        "default_capacity",
        "audience",
        "swatch",
    ]
    list_filter = ["academy", "kind"]
    list_select_related = ["academy"]
    search_fields = ["name", "academy__name"]

    @admin.display(description="colour")
    def swatch(self, obj: SessionType) -> str:
        return format_html(
            '<span style="display:inline-block;width:1em;height:1em;background:{};'
            'vertical-align:middle"></span> {}',
            obj.colour,
            obj.colour,
        )


class CoachAvailabilityForm(forms.ModelForm):
    class Meta:
        model = CoachAvailability
        fields = ["coach", "session_type", "weekday", "start_time", "end_time"]

    def clean(self):
        cleaned = super().clean() or {}
        coach, session_type = cleaned.get("coach"), cleaned.get("session_type")
        if coach is not None and session_type is not None:
            if session_type.academy_id != coach.academy_id:
                self.add_error("session_type", "This session type belongs to another academy.")
            elif session_type.kind != SessionType.Kind.INDIVIDUAL:
                self.add_error("session_type", "Availability is for individual lesson types.")
        return cleaned


@admin.register(CoachAvailability)
class CoachAvailabilityAdmin(admin.ModelAdmin):
    form = CoachAvailabilityForm
    list_display = ["coach", "weekday", "start_time", "end_time", "session_type"]
    list_filter = ["weekday", "coach__academy", "coach", "session_type"]
    list_select_related = ["coach", "session_type"]
    search_fields = ["coach__display_name", "session_type__name"]
    autocomplete_fields = ["coach", "session_type"]


@admin.register(CoachTimeOff)
class CoachTimeOffAdmin(admin.ModelAdmin):
    list_display = ["coach", "starts_at", "ends_at", "reason"]
    list_filter = ["coach__academy", "coach"]
    list_select_related = ["coach"]
    search_fields = ["coach__display_name", "reason"]
    date_hierarchy = "starts_at"
    autocomplete_fields = ["coach"]


@admin.register(SessionSeries)
class SessionSeriesAdmin(admin.ModelAdmin):
    """View-only: a series and its occurrences are made and changed by the app's schedule pages
    (bookings.services.series), which check every occurrence for clashes."""

    list_display = ["describe", "academy", "capacity", "created_by", "created_at"]
    list_filter = ["academy", "weekday", "session_type"]
    list_select_related = ["academy", "session_type", "court", "created_by"]
    search_fields = ["title", "session_type__name"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
