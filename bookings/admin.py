"""Django admin for the bookings app.

Reservations and lessons are written only by bookings.services, here too: the add forms call
reservation_create / individual_booking_create (refusals show as form errors), the cancel
actions call the cancel services, existing rows are view-only and nothing is deleted, so
reserved_count stays right and nothing is oversold or double-booked.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages

from bookings.errors import BookingError
from bookings.models import (
    GuardianLink,
    IdempotencyKey,
    IndividualBooking,
    Player,
    SessionReservation,
)
from bookings.services import (
    individual_booking_cancel,
    individual_booking_create,
    reservation_cancel,
    reservation_create,
)


class GuardianLinkInline(admin.TabularInline):
    model = GuardianLink
    extra = 1
    autocomplete_fields = ["guardian"]


@admin.register(Player)
class PlayerAdmin(admin.ModelAdmin):
    inlines = [GuardianLinkInline]
    list_display = ["full_name", "academy", "user", "birth_date", "guardian_names"]
    list_filter = ["academy"]
    list_select_related = ["academy", "user"]
    search_fields = [
        "first_name",
        "last_name",
        "user__username",
        "user__email",
        "guardian_links__guardian__username",
        "guardian_links__guardian__last_name",
    ]
    autocomplete_fields = ["academy", "user"]

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("guardians")

    @admin.display(description="name", ordering="first_name")
    def full_name(self, obj: Player) -> str:
        return obj.full_name

    @admin.display(description="guardians")
    def guardian_names(self, obj: Player) -> str:
        return ", ".join(user.get_username() for user in obj.guardians.all())


@admin.register(GuardianLink)
class GuardianLinkAdmin(admin.ModelAdmin):
    list_display = ["guardian", "player", "relationship"]
    list_filter = ["player__academy", "relationship"]
    list_select_related = ["guardian", "player"]
    search_fields = [
        "guardian__username",
        "guardian__first_name",
        "guardian__last_name",
        "player__first_name",
        "player__last_name",
    ]
    autocomplete_fields = ["guardian", "player"]


# -- reservations and lessons: through the services ---------------------------------------------


class ServiceAddForm(forms.ModelForm):
    """An add form whose clean() runs a booking service, so a refusal is a form error.

    The service writes the row inside the admin's transaction (its POST runs in
    transaction.atomic), and the admin then saves nothing itself: see save_model below. The
    model validation that follows clean() only re-checks the row the service wrote, with
    fields the form already validated, so it cannot turn a made booking into a form error.
    """

    actor = None  # set per request by ServiceAdmin.get_form

    def create(self, cleaned: dict):  # each subclass calls its service
        raise NotImplementedError

    def clean(self):
        cleaned = super().clean() or {}
        if self.errors:
            return cleaned
        try:
            self.instance = self.create(cleaned)
        except BookingError as exc:
            raise forms.ValidationError(exc.message, code=exc.code) from exc
        return cleaned


class ReservationAddForm(ServiceAddForm):
    class Meta:
        model = SessionReservation
        fields = ["player", "session"]

    def create(self, cleaned: dict) -> SessionReservation:
        return reservation_create(
            player=cleaned["player"], session=cleaned["session"], actor=self.actor
        )


class IndividualBookingAddForm(ServiceAddForm):
    class Meta:
        model = IndividualBooking
        fields = ["player", "coach", "session_type", "court", "starts_at"]
        help_texts = {
            "starts_at": "One of the coach's free slot times; the length comes from "
            "the session type."
        }

    def create(self, cleaned: dict) -> IndividualBooking:
        return individual_booking_create(
            player=cleaned["player"],
            coach=cleaned["coach"],
            session_type=cleaned["session_type"],
            court=cleaned.get("court"),
            starts_at=cleaned["starts_at"],
            actor=self.actor,
        )


class ServiceAdmin(admin.ModelAdmin):
    """Add through the service, view existing rows, cancel with the action, never delete."""

    add_form: type[ServiceAddForm]

    def get_form(self, request, obj=None, change=False, **kwargs):  # type: ignore[no-untyped-def]
        if obj is None:
            kwargs["form"] = self.add_form
        form = super().get_form(request, obj, change, **kwargs)
        form.actor = request.user  # type: ignore[attr-defined]  # a new class per request
        return form

    def get_fields(self, request, obj=None):
        if obj is None:
            return list(self.add_form._meta.fields or ())
        return super().get_fields(request, obj)

    def has_change_permission(self, request, obj=None):
        # The changelist (and its cancel action) needs it; a row's own page is view-only.
        return obj is None and super().has_change_permission(request)

    def has_delete_permission(self, request, obj=None):
        # Cancelled, never deleted: a deleted active row would leave reserved_count wrong.
        return False

    def save_model(self, request, obj, form, change):
        pass  # the service already saved it, in the add form's clean()

    def cancel_each(self, request, queryset, cancel, noun: str) -> None:
        done = 0
        for obj in queryset:
            try:
                cancel(obj, request.user)
            except BookingError as exc:
                self.message_user(request, f"{obj}: {exc.message}", messages.ERROR)
            else:
                done += 1
        if done:
            self.message_user(request, f"Cancelled {done} {noun}.", messages.SUCCESS)


@admin.register(SessionReservation)
class SessionReservationAdmin(ServiceAdmin):
    add_form = ReservationAddForm
    list_display = ["player", "session", "status", "reserved_by", "created_at", "cancelled_at"]
    list_filter = ["status", "session__academy", "session__session_type"]
    list_select_related = ["player", "session__session_type", "reserved_by"]
    search_fields = [
        "player__first_name",
        "player__last_name",
        "session__title",
        "session__session_type__name",
    ]
    date_hierarchy = "session__starts_at"
    autocomplete_fields = ["player", "session"]
    actions = ["cancel_reservations"]

    @admin.action(description="Cancel selected reservations", permissions=["change"])
    def cancel_reservations(self, request, queryset):
        self.cancel_each(
            request,
            queryset.select_related("session"),
            lambda row, actor: reservation_cancel(reservation=row, actor=actor),
            "reservation(s)",
        )


@admin.register(IndividualBooking)
class IndividualBookingAdmin(ServiceAdmin):
    add_form = IndividualBookingAddForm
    list_display = [
        "player",
        "coach",
        "session_type",
        "starts_at",
        "ends_at",
        "court",
        "status",
        "academy",
    ]
    list_filter = ["status", "academy", "coach", "session_type"]
    list_select_related = ["player", "coach", "session_type", "court", "academy"]
    search_fields = ["player__first_name", "player__last_name", "coach__display_name"]
    date_hierarchy = "starts_at"
    autocomplete_fields = ["player", "coach", "session_type", "court"]
    actions = ["cancel_bookings"]

    @admin.action(description="Cancel selected lessons", permissions=["change"])
    def cancel_bookings(self, request, queryset):
        self.cancel_each(
            request,
            queryset,
            lambda row, actor: individual_booking_cancel(booking=row, actor=actor),
            "lesson(s)",
        )


@admin.register(IdempotencyKey)
class IdempotencyKeyAdmin(admin.ModelAdmin):
    """Read-only: the record of a submission's first result. Deletable, so that deleting a user
    (which cascades to their keys) is not blocked."""

    list_display = ["key", "operation", "object_id", "user", "created_at"]
    list_filter = ["operation"]
    list_select_related = ["user"]
    search_fields = ["key", "user__username"]
    date_hierarchy = "created_at"

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
