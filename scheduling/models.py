"""Who teaches what, where and when."""

from __future__ import annotations

import zoneinfo
from datetime import date, datetime, timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import F, Q

from scheduling.times import time_range


def validate_time_zone(value: str) -> None:
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
        raise ValidationError(f"{value!r} is not a known time zone.") from exc


class Level(models.IntegerChoices):
    """A player's playing level, and the range a session type is for."""

    BEGINNER = 1, "Beginner"
    IMPROVER = 2, "Improver"
    INTERMEDIATE = 3, "Intermediate"
    ADVANCED = 4, "Advanced"
    PERFORMANCE = 5, "Performance"


class Academy(models.Model):
    """The tenant: every domain row belongs to exactly one academy."""

    class LateWaitlist(models.TextChoices):
        AUTO = "auto", "Promote the next player automatically"
        OFFER = "offer", "Offer the spot to the next player for a claim window"

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
    late_waitlist = models.CharField(
        max_length=8,
        choices=LateWaitlist.choices,
        default=LateWaitlist.AUTO,
        help_text="When a spot frees inside the cancellation cut-off (where a family could no "
        "longer cancel it online): promote the first waiting player, or offer it to them first.",
    )
    offer_minutes = models.PositiveIntegerField(
        default=120,
        help_text="How long an offered spot is held for the player it is offered to.",
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

    def promotes_automatically(self, starts_at: datetime, now: datetime) -> bool:
        """Does a freed spot go straight to the first waiting player (else: offered to them)?
        Always before the cut-off, where the family can still cancel it themselves."""
        return (
            self.cancellable_online(starts_at, now) or self.late_waitlist == self.LateWaitlist.AUTO
        )

    def offer_until(self, starts_at: datetime, now: datetime) -> datetime:
        """Until when a spot offered now is held: the claim window, at most until the start."""
        return min(now + timedelta(minutes=self.offer_minutes), starts_at)


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
        verbose_name_plural = "coaches"
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
    # Who may join (group sessions): an age range on the day of the session, a level range.
    # Empty: no limit on that side.
    min_age = models.PositiveSmallIntegerField(null=True, blank=True)
    max_age = models.PositiveSmallIntegerField(null=True, blank=True)
    min_level = models.PositiveSmallIntegerField(choices=Level.choices, null=True, blank=True)
    max_level = models.PositiveSmallIntegerField(choices=Level.choices, null=True, blank=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["academy", "name"], name="session_type_name_unique"),
            models.CheckConstraint(
                condition=Q(duration_minutes__gt=0), name="session_type_duration_positive"
            ),
            models.CheckConstraint(
                condition=Q(min_age__isnull=True)
                | Q(max_age__isnull=True)
                | Q(min_age__lte=F("max_age")),
                name="session_type_age_range",
            ),
            models.CheckConstraint(
                condition=Q(min_level__isnull=True)
                | Q(max_level__isnull=True)
                | Q(min_level__lte=F("max_level")),
                name="session_type_level_range",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    # -- eligibility: the one rule of who may join, for the services and the pages --

    @property
    def has_audience(self) -> bool:
        return any(
            v is not None for v in (self.min_age, self.max_age, self.min_level, self.max_level)
        )

    @property
    def audience(self) -> str:
        """Who it is for, in a few words ("Ages 8-17 · Intermediate and above"), or ""."""
        parts = []
        low, high = self.min_age, self.max_age
        if low is not None and high is not None:
            parts.append(f"Ages {low}\N{EN DASH}{high}")
        elif low is not None:
            parts.append(f"Ages {low} and over")
        elif high is not None:
            parts.append(f"Ages {high} and under")
        low, high = self.min_level, self.max_level
        if low is not None and high is not None:
            parts.append(
                Level(low).label if low == high else f"{Level(low).label} to {Level(high).label}"
            )
        elif low is not None:
            parts.append(f"{Level(low).label} and above")
        elif high is not None:
            parts.append(f"Up to {Level(high).label}")
        return " · ".join(parts)

    def refusal(
        self, *, first_name: str, birth_date: date | None, level: int | None, on: date
    ) -> str | None:
        """Why a player may not join a session of this type on `on`, in plain words; None if
        they may. A rule the academy cannot check (no birth date, no level) refuses: the front
        desk completes the player's record."""
        if self.min_age is not None or self.max_age is not None:
            if birth_date is None:
                return (
                    f"{self.name} is for {self.audience.lower()}; we have no date of birth for "
                    f"{first_name}. Please ask the front desk to add it."
                )
            age = age_on(birth_date, on)
            if (self.min_age is not None and age < self.min_age) or (
                self.max_age is not None and age > self.max_age
            ):
                return f"{self.name} is for {self.audience.lower()}; {first_name} is {age}."
        if self.min_level is not None or self.max_level is not None:
            if level is None:
                return (
                    f"{self.name} is for {self.audience.lower()}; {first_name} has no level "
                    "yet. Please ask the front desk or a coach to set it."
                )
            if (self.min_level is not None and level < self.min_level) or (
                self.max_level is not None and level > self.max_level
            ):
                return (
                    f"{self.name} is for {self.audience.lower()}; {first_name} is at "
                    f"{Level(level).label.lower()} level."
                )
        return None


def age_on(birth_date: date, day: date) -> int:
    """Whole years between a birth date and a day (29 February birthdays count on 1 March)."""
    before_birthday = (day.month, day.day) < (birth_date.month, birth_date.day)
    return day.year - birth_date.year - before_birthday


class Weekday(models.IntegerChoices):
    MONDAY = 0, "Monday"
    TUESDAY = 1, "Tuesday"
    WEDNESDAY = 2, "Wednesday"
    THURSDAY = 3, "Thursday"
    FRIDAY = 4, "Friday"
    SATURDAY = 5, "Saturday"
    SUNDAY = 6, "Sunday"


class SessionSeries(models.Model):
    """A weekly recurring group session for a term ("Tuesdays 17:00 Junior squad, Court 2,
    1 Sep to 15 Dec, not 27 Oct"). Its occurrences are ordinary GroupSession rows pointing
    here, made and changed only by bookings.services.series; this row is what they were made
    from. An edit of "this and the following sessions" splits a series in two at that date
    (RFC 5545's THISANDFUTURE), so each row describes the occurrences it holds."""

    academy = models.ForeignKey(Academy, on_delete=models.CASCADE, related_name="series")
    session_type = models.ForeignKey(SessionType, on_delete=models.PROTECT, related_name="+")
    title = models.CharField(max_length=120, blank=True)
    weekday = models.PositiveSmallIntegerField(choices=Weekday.choices)
    start_time = models.TimeField(help_text="Local time in the academy's time zone.")
    duration_minutes = models.PositiveIntegerField()
    court = models.ForeignKey(
        Court, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    coaches = models.ManyToManyField(Coach, blank=True, related_name="series")
    capacity = models.PositiveIntegerField()
    notes = models.TextField(blank=True)
    first_day = models.DateField()
    last_day = models.DateField()
    skip_days = models.JSONField(
        default=list, blank=True, help_text="Dates (YYYY-MM-DD) in the range with no session."
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name_plural = "session series"
        ordering = ["first_day", "start_time", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(last_day__gte=F("first_day")), name="series_ends_after_start"
            ),
            models.CheckConstraint(
                condition=Q(duration_minutes__gt=0), name="series_duration_positive"
            ),
        ]

    def __str__(self) -> str:
        return self.describe()

    @property
    def display_title(self) -> str:
        return self.title or self.session_type.name

    def describe(self) -> str:
        """How the front desk says it: "Tuesdays 17:00, Junior squad, Court 2, 1 Sep to 15 Dec
        2026, not 27 Oct"."""
        day = Weekday(self.weekday).label + "s"
        parts = [f"{day} {self.start_time:%H:%M}", self.display_title]
        if self.court is not None:
            parts.append(self.court.name)
        span = f"{self.first_day:%-d %b} to {self.last_day:%-d %b %Y}"
        skipped = sorted(self.skip_days)
        if skipped:
            span += ", not " + ", ".join(f"{date.fromisoformat(d):%-d %b}" for d in skipped)
        return ", ".join([*parts, span])


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
    notes = models.TextField(
        blank=True, help_text="For the coaches and the front desk (the session's coaches edit it)."
    )
    series = models.ForeignKey(
        SessionSeries,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        editable=False,
        related_name="occurrences",
    )
    # Maintained by the reservation services under this row's lock; the check constraint makes
    # overbooking impossible even for a writer that forgets the lock.
    reserved_count = models.PositiveIntegerField(default=0, editable=False)
    # Spots offered to waiting players and held for them until they claim or the offer lapses
    # (bookings.services.waitlist); they count against capacity like reservations.
    held_count = models.PositiveIntegerField(default=0, editable=False)
    waiting_count = models.PositiveIntegerField(default=0, editable=False)
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
            models.CheckConstraint(
                condition=Q(reserved_count__lte=F("capacity") - F("held_count")),
                name="group_session_offers_within_capacity",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.display_title} {self.starts_at:%Y-%m-%d %H:%M}"

    @property
    def display_title(self) -> str:
        return self.title or self.session_type.name

    @property
    def spots_left(self) -> int:
        """Spots anyone may still reserve: not reserved and not held for a waiting player."""
        return max(self.capacity - self.reserved_count - self.held_count, 0)

    @property
    def is_full(self) -> bool:
        return self.spots_left == 0

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

    Weekday = Weekday

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
        return f"{self.coach}: {day} {time_range(self.start_time, self.end_time)}"


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
