"""Who teaches what, where and when."""

from __future__ import annotations

import zoneinfo
from datetime import datetime, timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import F, Q


def validate_time_zone(value: str) -> None:
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
        raise ValidationError(f"{value!r} is not a known time zone.") from exc


class Academy(models.Model):
    """The tenant: every domain row belongs to exactly one academy."""

    name = models.CharField(max_length=120)
    slug = models.SlugField(unique=True)
    time_zone = models.CharField(max_length=64, default="UTC", validators=[validate_time_zone])
    cancellation_cutoff_hours = models.PositiveIntegerField(
        default=24, help_text="Players and parents cannot cancel later than this before the start."
    )
    booking_horizon_days = models.PositiveIntegerField(
        default=30, help_text="How far ahead players and parents may book."
    )
    min_notice_minutes = models.PositiveIntegerField(
        default=60, help_text="The shortest notice at which a lesson may still be booked."
    )

    class Meta:
        verbose_name_plural = "academies"
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def tz(self) -> zoneinfo.ZoneInfo:
        return zoneinfo.ZoneInfo(self.time_zone)

    # The academy's booking rules, stated once for the services, the pages and slot generation.

    def cancellable_online(self, starts_at: datetime, now: datetime) -> bool:
        """May a player or parent still cancel this themselves (before the cut-off)?"""
        return starts_at - now >= timedelta(hours=self.cancellation_cutoff_hours)

    def horizon(self, now: datetime) -> datetime:
        """Players and parents may book what starts before this."""
        return now + timedelta(days=self.booking_horizon_days)

    def notice_until(self, now: datetime) -> datetime:
        """Lessons starting before this are too soon to book (the minimum notice)."""
        return now + timedelta(minutes=self.min_notice_minutes)


class StaffMember(models.Model):
    """Front-desk staff of one academy. Other roles follow from Coach, Player and guardian rows."""

    academy = models.ForeignKey(Academy, on_delete=models.CASCADE, related_name="staff")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="staff_memberships"
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["academy", "user"], name="staff_unique_per_academy")
        ]

    def __str__(self) -> str:
        return f"{self.user} @ {self.academy}"


class Coach(models.Model):
    academy = models.ForeignKey(Academy, on_delete=models.CASCADE, related_name="coaches")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="coach_profiles"
    )
    display_name = models.CharField(max_length=120)
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ["display_name"]
        constraints = [
            models.UniqueConstraint(fields=["academy", "user"], name="coach_unique_per_academy")
        ]

    def __str__(self) -> str:
        return self.display_name


class Court(models.Model):
    academy = models.ForeignKey(Academy, on_delete=models.CASCADE, related_name="courts")
    name = models.CharField(max_length=80)
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["academy", "name"], name="court_name_unique")
        ]

    def __str__(self) -> str:
        return self.name


class SessionType(models.Model):
    class Kind(models.TextChoices):
        GROUP = "group", "Group session"
        INDIVIDUAL = "individual", "Individual lesson"

    academy = models.ForeignKey(Academy, on_delete=models.CASCADE, related_name="session_types")
    name = models.CharField(max_length=80)
    kind = models.CharField(max_length=12, choices=Kind.choices)
    duration_minutes = models.PositiveIntegerField(default=60)
    default_capacity = models.PositiveIntegerField(default=8)
    colour = models.CharField(max_length=7, default="#2563eb", help_text="A hex colour, #rrggbb.")

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["academy", "name"], name="session_type_name_unique"),
            models.CheckConstraint(
                condition=Q(duration_minutes__gt=0), name="session_type_duration_positive"
            ),
        ]

    def __str__(self) -> str:
        return self.name


class GroupSession(models.Model):
    class Status(models.TextChoices):
        SCHEDULED = "scheduled", "Scheduled"
        CANCELLED = "cancelled", "Cancelled"

    academy = models.ForeignKey(Academy, on_delete=models.CASCADE, related_name="group_sessions")
    session_type = models.ForeignKey(
        SessionType, on_delete=models.PROTECT, related_name="group_sessions"
    )
    coaches = models.ManyToManyField(
        Coach, through="StaffAssignment", related_name="group_sessions"
    )
    court = models.ForeignKey(
        Court, on_delete=models.PROTECT, null=True, blank=True, related_name="group_sessions"
    )
    title = models.CharField(max_length=120, blank=True)
    starts_at = models.DateTimeField(db_index=True)
    ends_at = models.DateTimeField()
    capacity = models.PositiveIntegerField()
    # Maintained by the reservation services under this row's lock; the check constraint makes
    # overbooking impossible even for a writer that forgets the lock.
    reserved_count = models.PositiveIntegerField(default=0, editable=False)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.SCHEDULED)
    version = models.PositiveIntegerField(default=1, editable=False)
    cancelled_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["starts_at", "id"]
        indexes = [models.Index(fields=["academy", "starts_at"], name="group_session_day_idx")]
        constraints = [
            models.CheckConstraint(
                condition=Q(ends_at__gt=F("starts_at")), name="group_session_ends_after_start"
            ),
            models.CheckConstraint(
                condition=Q(reserved_count__lte=F("capacity")), name="group_session_not_overbooked"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.display_title} {self.starts_at:%Y-%m-%d %H:%M}"

    @property
    def display_title(self) -> str:
        return self.title or self.session_type.name

    @property
    def spots_left(self) -> int:
        return max(self.capacity - self.reserved_count, 0)

    @property
    def is_full(self) -> bool:
        return self.reserved_count >= self.capacity

    @property
    def is_cancelled(self) -> bool:
        return self.status == self.Status.CANCELLED


class StaffAssignment(models.Model):
    """A coach assigned to a group session (a session can have several)."""

    session = models.ForeignKey(GroupSession, on_delete=models.CASCADE, related_name="assignments")
    coach = models.ForeignKey(Coach, on_delete=models.CASCADE, related_name="assignments")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["session", "coach"], name="assignment_unique")
        ]

    def __str__(self) -> str:
        return f"{self.coach} → {self.session}"


class CoachAvailability(models.Model):
    """A weekly window in which a coach offers lessons of one session type."""

    class Weekday(models.IntegerChoices):
        MONDAY = 0, "Monday"
        TUESDAY = 1, "Tuesday"
        WEDNESDAY = 2, "Wednesday"
        THURSDAY = 3, "Thursday"
        FRIDAY = 4, "Friday"
        SATURDAY = 5, "Saturday"
        SUNDAY = 6, "Sunday"

    coach = models.ForeignKey(Coach, on_delete=models.CASCADE, related_name="availability")
    session_type = models.ForeignKey(
        SessionType, on_delete=models.CASCADE, related_name="availability"
    )
    weekday = models.PositiveSmallIntegerField(choices=Weekday.choices)
    start_time = models.TimeField(help_text="Local time in the academy's time zone.")
    end_time = models.TimeField()

    class Meta:
        verbose_name_plural = "coach availability"
        ordering = ["coach", "weekday", "start_time"]
        constraints = [
            models.CheckConstraint(
                condition=Q(end_time__gt=F("start_time")), name="availability_ends_after_start"
            ),
        ]

    def __str__(self) -> str:
        day = self.get_weekday_display()
        return f"{self.coach}: {day} {self.start_time:%H:%M}-{self.end_time:%H:%M}"


class CoachTimeOff(models.Model):
    coach = models.ForeignKey(Coach, on_delete=models.CASCADE, related_name="time_off")
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField()
    reason = models.CharField(max_length=200, blank=True)

    class Meta:
        verbose_name_plural = "coach time off"
        ordering = ["starts_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(ends_at__gt=F("starts_at")), name="time_off_ends_after_start"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.coach} off {self.starts_at:%Y-%m-%d %H:%M}"
