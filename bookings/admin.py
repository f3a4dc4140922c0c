"""Django admin for the bookings app, and for group sessions.

Reservations, lessons and group sessions are written only by bookings.services, here too: the
forms call the services in their clean() (refusals show as form errors), the cancel actions
call the cancel services, reservations and lessons are view-only once made and never deleted,
so reserved_count stays right and nothing is oversold or double-booked.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.contrib.auth.models import User
from django.utils import timezone

from bookings.errors import BookingError
from bookings.models import (
    Activity,
    Attendance,
    CalendarFeed,
    EmailOptOut,
    Feedback,
    Goal,
    GuardianLink,
    IdempotencyKey,
    IndividualBooking,
    OutgoingEmail,
    Player,
    SessionReservation,
    WaitlistEntry,
)
from bookings.services import (
    group_session_cancel,
    group_session_create,
    group_session_update,
    individual_booking_cancel,
    individual_booking_create,
    reservation_cancel,
    reservation_create,
)
from bookings.services.sessions import SessionPlan
from scheduling.models import Coach, GroupSession


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


class ServiceForm(forms.ModelForm):
    """An add form whose clean() runs a booking service, so a refusal is a form error.

    The service writes the row inside the admin's transaction (its POST runs in
    transaction.atomic), and the admin then saves nothing itself: see save_model below. The
    model validation that follows clean() only re-checks the row the service wrote, with
    fields the form already validated, so it cannot turn a made booking into a form error.
    """

    actor: User  # set per request by _with_actor
    error_fields: dict[str, str] = {}  # a refusal's code -> the field it is about

    def create(self, cleaned: dict):  # each subclass calls its service
        raise NotImplementedError

    def clean(self):
        cleaned = super().clean() or {}
        if self.errors:
            return cleaned
        try:
            self.instance = self.create(cleaned)
        except BookingError as exc:
            error = forms.ValidationError(exc.message, code=exc.code)
            self.add_error(self.error_fields.get(exc.code), error)
        return cleaned


class ReservationAddForm(ServiceForm):
    class Meta:
        model = SessionReservation
        fields = ["player", "session"]

    def create(self, cleaned: dict) -> SessionReservation:
        return reservation_create(
            player=cleaned["player"], session=cleaned["session"], actor=self.actor
        )


class IndividualBookingAddForm(ServiceForm):
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


SESSION_FIELDS = [
    "academy",
    "session_type",
    "title",
    "starts_at",
    "ends_at",
    "court",
    "capacity",
    "notes",
]


class GroupSessionForm(ServiceForm):
    """Add or change a group session through group_session_create / _update, coaches included
    (so the coach clash check sees them with the rest)."""

    coaches = forms.ModelMultipleChoiceField(
        queryset=Coach.objects.filter(is_active=True), required=False
    )
    error_fields = {
        "court_busy": "court",
        "coach_busy": "coaches",
        "coach_inactive": "coaches",
        "capacity_below_reservations": "capacity",
        "not_group": "session_type",
        "bad_times": "ends_at",
    }

    class Meta:
        model = GroupSession
        fields = SESSION_FIELDS

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.initial["coaches"] = list(self.instance.coaches.all())

    def create(self, cleaned: dict) -> GroupSession:
        plan = SessionPlan(
            session_type=cleaned["session_type"],
            starts_at=cleaned["starts_at"],
            ends_at=cleaned["ends_at"],
            capacity=cleaned["capacity"],
            court=cleaned.get("court"),
            coaches=list(cleaned.get("coaches") or []),
            title=cleaned.get("title") or "",
            notes=cleaned.get("notes") or "",
        )
        if self.instance.pk:
            return group_session_update(session=self.instance, plan=plan, actor=self.actor)
        return group_session_create(academy=cleaned["academy"], plan=plan, actor=self.actor)


def _with_actor(form_class: type[ServiceForm], actor: User) -> type[ServiceForm]:
    """The form class for one request: the services need to know who acts."""
    return type(form_class.__name__, (form_class,), {"actor": actor})


def cancel_each(model_admin, request, queryset, cancel, noun: str) -> None:
    """An admin action's body: cancel each selected row through its service, and say how it
    went (a refusal names the row and the service's reason)."""
    done = 0
    for obj in queryset:
        try:
            cancel(obj, request.user)
        except BookingError as exc:
            model_admin.message_user(request, f"{obj}: {exc.message}", messages.ERROR)
        else:
            done += 1
    if done:
        model_admin.message_user(request, f"Cancelled {done} {noun}.", messages.SUCCESS)


class ServiceAdmin(admin.ModelAdmin):
    """Add through the service, view existing rows, cancel with the action, never delete."""

    add_form: type[ServiceForm]

    def get_form(self, request, obj=None, change=False, **kwargs):
        if obj is None:
            kwargs["form"] = _with_actor(self.add_form, request.user)
        return super().get_form(request, obj, change, **kwargs)

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
        cancel_each(
            self,
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
        cancel_each(
            self,
            request,
            queryset,
            lambda row, actor: individual_booking_cancel(booking=row, actor=actor),
            "lesson(s)",
        )


@admin.register(WaitlistEntry)
class WaitlistEntryAdmin(admin.ModelAdmin):
    """View-only: the waiting lists are kept by the services (joining, leaving and promotion
    move the session's counters under its lock); staff manage them from the app."""

    list_display = ["player", "session", "status", "offered_until", "joined_by", "created_at"]
    list_filter = ["status", "session__academy"]
    list_select_related = ["player", "session__session_type", "joined_by"]
    search_fields = ["player__first_name", "player__last_name", "session__title"]
    date_hierarchy = "created_at"

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


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


@admin.register(GroupSession)
class GroupSessionAdmin(admin.ModelAdmin):
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

    def get_form(self, request, obj=None, change=False, **kwargs):
        kwargs["form"] = _with_actor(GroupSessionForm, request.user)
        return super().get_form(request, obj, change, **kwargs)

    def get_fields(self, request, obj=None):
        readonly = self.get_readonly_fields(request, obj)
        editable = [f for f in SESSION_FIELDS if f not in readonly]
        return [*editable, "coaches", *readonly]

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("coaches")

    def get_readonly_fields(self, request, obj=None):
        # status changes only through the cancel action (the service cancels the reservations
        # as well); a session's reservations tie it to its academy.
        fields = [
            "status",
            "reserved_count",
            "held_count",
            "waiting_count",
            "series",
            "version",
            "cancelled_at",
        ]
        return [*fields, "academy"] if obj is not None else fields

    def has_delete_permission(self, request, obj=None):
        # One session at a time, from its page, which refuses while it has reservations (those
        # are never deleted): no bulk delete in the list. Sessions are cancelled instead.
        return obj is not None and super().has_delete_permission(request, obj)

    def save_model(self, request, obj, form, change):
        pass  # the service saved it, in the form's clean()

    def save_related(self, request, form, formsets, change):
        pass  # the coaches too

    @admin.display(description="coaches")
    def coach_names(self, obj: GroupSession) -> str:
        return ", ".join(coach.display_name for coach in obj.coaches.all())

    @admin.display(description="booked", ordering="reserved_count")
    def booked(self, obj: GroupSession) -> str:
        return f"{obj.reserved_count}/{obj.capacity}"

    @admin.action(
        description="Cancel selected sessions (and their reservations)", permissions=["change"]
    )
    def cancel_sessions(self, request, queryset):
        cancel_each(
            self,
            request,
            queryset,
            lambda row, actor: group_session_cancel(session=row, actor=actor),
            "session(s)",
        )


# -- emails and calendar feeds: seen, retried, revoked; never written here -----------------------


@admin.register(OutgoingEmail)
class OutgoingEmailAdmin(admin.ModelAdmin):
    """The email queue, to see what was sent and what waits (a mail server down), and to send
    a failed one again once the cause is fixed. Rows are made only by bookings.emails."""

    list_display = ["created_at", "kind", "recipient", "status", "attempts", "due_at", "sent_at"]
    list_filter = ["status", "kind"]
    list_select_related = ["recipient"]
    search_fields = ["recipient__username", "recipient__email", "cause"]
    readonly_fields = [f.name for f in OutgoingEmail._meta.fields]
    actions = ["send_again"]

    def has_add_permission(self, request):
        return False

    @admin.action(description="Send again (from the next round of the sender)")
    def send_again(self, request, queryset):
        count = queryset.exclude(status=OutgoingEmail.Status.SENT).update(
            status=OutgoingEmail.Status.PENDING, attempts=0, due_at=timezone.now()
        )
        self.message_user(request, f"{count} email(s) will be sent again.", messages.SUCCESS)


@admin.register(CalendarFeed)
class CalendarFeedAdmin(admin.ModelAdmin):
    """Calendar addresses: who has one and whether a calendar app reads it. Deleting one
    revokes it; only the token's hash is stored, so nobody here can read an address."""

    list_display = ["user", "scope", "coach", "created_at", "last_used_at"]
    list_filter = ["scope"]
    list_select_related = ["user", "coach"]
    search_fields = ["user__username", "user__email"]
    readonly_fields = ["user", "scope", "coach", "token_hash", "created_at", "last_used_at"]

    def has_add_permission(self, request):
        return False


@admin.register(EmailOptOut)
class EmailOptOutAdmin(admin.ModelAdmin):
    list_display = ["user", "topic", "created_at"]
    list_filter = ["topic"]
    search_fields = ["user__username", "user__email"]
    autocomplete_fields = ["user"]


class ReadOnlyAdmin(admin.ModelAdmin):
    """Rows the services write (check-in marks, the activity log): viewed here, never added or
    changed, so that every mark and every line says who made it."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(Attendance)
class AttendanceAdmin(ReadOnlyAdmin):
    list_display = ["player", "session", "lesson", "status", "walk_in", "marked_by", "marked_at"]
    list_filter = ["status", "walk_in", "player__academy"]
    list_select_related = ["player", "session__session_type", "lesson__session_type", "marked_by"]
    search_fields = ["player__first_name", "player__last_name"]
    date_hierarchy = "marked_at"

    def has_delete_permission(self, request, obj=None):
        return False  # a mark is corrected from the tablet, so its log line stays true


@admin.register(Feedback)
class FeedbackAdmin(ReadOnlyAdmin):
    """Ratings are the family's words: read here, and removable (moderation), never edited."""

    list_display = ["attendance", "rating", "comment", "author", "updated_at"]
    list_filter = ["rating", "attendance__player__academy"]
    list_select_related = ["attendance__player", "author"]
    search_fields = ["comment", "attendance__player__first_name", "attendance__player__last_name"]
    date_hierarchy = "updated_at"


@admin.register(Goal)
class GoalAdmin(admin.ModelAdmin):
    list_display = ["title", "player", "coach", "progress", "target_date", "updated_at"]
    list_filter = ["academy", "coach"]
    list_select_related = ["player", "coach"]
    search_fields = ["title", "player__first_name", "player__last_name"]
    autocomplete_fields = ["player", "coach"]


@admin.register(Activity)
class ActivityAdmin(ReadOnlyAdmin):
    list_display = ["at", "academy", "actor", "verb", "player", "session", "lesson", "detail"]
    list_filter = ["verb", "academy"]
    list_select_related = ["academy", "actor", "player", "session__session_type"]
    date_hierarchy = "at"
    # Deletable: its lines go with the player or session they name (and by age, pruned).
