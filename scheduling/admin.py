"""Django admin for the scheduling app.

Plain ModelAdmins, except for GroupSession: its reserved_count belongs to the reservation
services, so capacity edits are checked against the locked row and cancelling goes through
bookings.services.group_session_cancel, which cancels the reservations too.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.db.models import Q
from django.utils.html import format_html

from bookings.errors import MESSAGES, BookingError
from bookings.models import IndividualBooking
from bookings.services import group_session_cancel
from scheduling.models import (
    Academy,
    Coach,
    CoachAvailability,
    CoachTimeOff,
    Court,
    GroupSession,
    SessionType,
    StaffAssignment,
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
    list_display = ["name", "academy", "kind", "duration_minutes", "default_capacity", "swatch"]
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


# -- group sessions ------------------------------------------------------------------------------


class StaffAssignmentFormSet(forms.BaseInlineFormSet):
    def clean(self):
        super().clean()
        # Here rather than in the inline form: only the formset knows the (maybe unsaved) session.
        academy_id = self.instance.academy_id
        for form in self.forms:
            coach = getattr(form, "cleaned_data", {}).get("coach")
            if coach is not None and academy_id and coach.academy_id != academy_id:
                form.add_error("coach", "This coach belongs to another academy.")


class StaffAssignmentInline(admin.TabularInline):
    model = StaffAssignment
    formset = StaffAssignmentFormSet
    extra = 1
    autocomplete_fields = ["coach"]


class GroupSessionForm(forms.ModelForm):
    class Meta:
        model = GroupSession
        fields = ["academy", "session_type", "title", "starts_at", "ends_at", "court", "capacity"]

    def clean(self):
        cleaned = super().clean() or {}
        instance = self.instance
        academy = cleaned.get("academy") or (instance.academy if instance.academy_id else None)
        session_type = cleaned.get("session_type")
        court = cleaned.get("court")
        if academy is not None:
            if session_type is not None and session_type.academy_id != academy.pk:
                self.add_error("session_type", "This session type belongs to another academy.")
            if court is not None and court.academy_id != academy.pk:
                self.add_error("court", "This court belongs to another academy.")
        if session_type is not None and session_type.kind != SessionType.Kind.GROUP:
            self.add_error("session_type", "Choose a group session type.")

        # The admin runs a POST inside transaction.atomic, so these row locks last until the
        # save: no reservation (the services lock the session row) can slip in between the
        # check and the write. The lock order, session then court, is the services' order.
        if instance.pk:
            locked = GroupSession.objects.select_for_update().get(pk=instance.pk)
            capacity = cleaned.get("capacity")
            if capacity is not None and capacity < locked.reserved_count:
                self.add_error(
                    "capacity",
                    f"{MESSAGES['capacity_below_reservations']} "
                    f"({locked.reserved_count} reserved).",
                )
            # Keep the services' counters, not the ones this form was loaded with.
            instance.reserved_count = locked.reserved_count
            instance.version = locked.version
            instance.status = locked.status
            instance.cancelled_at = locked.cancelled_at

        starts_at, ends_at = cleaned.get("starts_at"), cleaned.get("ends_at")
        scheduled = instance.status == GroupSession.Status.SCHEDULED
        if court is not None and starts_at and ends_at and scheduled:
            Court.objects.select_for_update().filter(pk=court.pk).first()
            overlap = Q(starts_at__lt=ends_at, ends_at__gt=starts_at, court=court)
            clash = (
                GroupSession.objects.filter(overlap, status=GroupSession.Status.SCHEDULED)
                .exclude(pk=instance.pk)
                .first()
            )
            lesson = IndividualBooking.objects.filter(
                overlap, status=IndividualBooking.Status.BOOKED
            ).first()
            if clash is not None or lesson is not None:
                self.add_error("court", f"{MESSAGES['court_busy']} ({clash or lesson})")
        return cleaned


@admin.register(GroupSession)
class GroupSessionAdmin(admin.ModelAdmin):
    form = GroupSessionForm
    inlines = [StaffAssignmentInline]
    list_display = [
        "display_title",
        "starts_at",
        "ends_at",
        "court",
        "coach_names",
        "booked",
        "status",
        "academy",
    ]
    list_filter = ["status", "academy", "session_type", "court"]
    list_select_related = ["session_type", "court", "academy"]
    search_fields = ["title", "session_type__name", "court__name", "coaches__display_name"]
    date_hierarchy = "starts_at"
    autocomplete_fields = ["academy", "session_type", "court"]
    actions = ["cancel_sessions"]

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("coaches")

    def get_readonly_fields(self, request, obj=None):
        # status changes only through the cancel action (the service cancels the reservations
        # as well); a session's reservations tie it to its academy.
        fields = ["status", "reserved_count", "version", "cancelled_at"]
        return [*fields, "academy"] if obj is not None else fields

    def has_delete_permission(self, request, obj=None):
        # One session at a time, from its page, which refuses while it has reservations (those
        # are never deleted): no bulk delete in the list. Sessions are cancelled instead.
        return obj is not None and super().has_delete_permission(request, obj)

    @admin.display(description="coaches")
    def coach_names(self, obj: GroupSession) -> str:
        return ", ".join(coach.display_name for coach in obj.coaches.all())

    @admin.display(description="booked", ordering="reserved_count")
    def booked(self, obj: GroupSession) -> str:
        return f"{obj.reserved_count}/{obj.capacity}"

    def save_model(self, request, obj, form, change):
        if change:
            obj.version += 1  # the form's clean refreshed it under the row lock
        super().save_model(request, obj, form, change)

    @admin.action(
        description="Cancel selected sessions (and their reservations)", permissions=["change"]
    )
    def cancel_sessions(self, request, queryset):
        done = 0
        for session in queryset:
            try:
                group_session_cancel(session=session, actor=request.user)
            except BookingError as exc:
                self.message_user(request, f"{session}: {exc.message}", messages.ERROR)
            else:
                done += 1
        if done:
            self.message_user(request, f"Cancelled {done} session(s).", messages.SUCCESS)


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
