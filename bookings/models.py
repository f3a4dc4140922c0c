"""Who attends: players, their guardians, reservations and individual bookings."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import F, Q

from scheduling.models import Academy, Coach, Court, GroupSession, Level, SessionType


class Player(models.Model):
    """Someone who trains. A child may have no login; their guardians act for them."""

    academy = models.ForeignKey(Academy, on_delete=models.CASCADE, related_name="players")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="player_profiles",
    )
    first_name = models.CharField(max_length=60)
    last_name = models.CharField(max_length=60)
    birth_date = models.DateField(null=True, blank=True)
    level = models.PositiveSmallIntegerField(
        choices=Level.choices,
        null=True,
        blank=True,
        help_text="Playing level; session types may be for some levels only.",
    )
    guardians = models.ManyToManyField(
        settings.AUTH_USER_MODEL, through="GuardianLink", related_name="children", blank=True
    )

    class Meta:
        ordering = ["first_name", "last_name"]
        constraints = [
            models.UniqueConstraint(
                fields=["academy", "user"], name="player_user_unique_per_academy"
            )
        ]

    def __str__(self) -> str:
        return self.full_name

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()


class GuardianLink(models.Model):
    """A parent (a user) linked to a child (a player). A child can have two parents."""

    guardian = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="guardian_links"
    )
    player = models.ForeignKey(Player, on_delete=models.CASCADE, related_name="guardian_links")
    relationship = models.CharField(max_length=40, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["guardian", "player"], name="guardian_link_unique")
        ]

    def __str__(self) -> str:
        return f"{self.guardian} → {self.player}"


class SessionReservation(models.Model):
    class Status(models.TextChoices):
        RESERVED = "reserved", "Reserved"
        CANCELLED = "cancelled", "Cancelled"

    session = models.ForeignKey(GroupSession, on_delete=models.CASCADE, related_name="reservations")
    player = models.ForeignKey(Player, on_delete=models.CASCADE, related_name="reservations")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.RESERVED)
    reserved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    cancelled_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    cancelled_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["session__starts_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["session", "player"],
                condition=Q(status="reserved"),
                name="one_active_reservation_per_player",
            )
        ]

    def __str__(self) -> str:
        return f"{self.player} in {self.session} ({self.status})"

    @property
    def is_active(self) -> bool:
        return self.status == self.Status.RESERVED


class WaitlistEntry(models.Model):
    """A player waiting for a spot in a full group session, first come first served (by id,
    which the session's lock makes the order of joining).

    Written only by bookings.services (waitlist, reservations, sessions) under the session's
    row lock, which also keeps the session's waiting_count and held_count. A player is never
    both reserved and waiting: the services check it under that lock, and an entry ends
    (promoted) in the same transaction as the reservation it becomes."""

    class Status(models.TextChoices):
        WAITING = "waiting", "Waiting"
        OFFERED = "offered", "Offered a spot"  # held for them until offered_until
        PROMOTED = "promoted", "Got a spot"
        LEFT = "left", "Left the list"  # or declined an offer
        EXPIRED = "expired", "Offer lapsed"
        CLOSED = "closed", "Session cancelled"

    OPEN = (Status.WAITING, Status.OFFERED)

    session = models.ForeignKey(GroupSession, on_delete=models.CASCADE, related_name="waitlist")
    player = models.ForeignKey(Player, on_delete=models.CASCADE, related_name="waitlist_entries")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.WAITING)
    joined_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    ended_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    offered_until = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "waiting list entries"
        ordering = ["session", "id"]
        indexes = [models.Index(fields=["session", "status", "id"], name="waitlist_queue_idx")]
        constraints = [
            models.UniqueConstraint(
                fields=["session", "player"],
                condition=Q(status__in=["waiting", "offered"]),
                name="one_open_waitlist_entry_per_player",
            ),
            models.CheckConstraint(
                condition=~Q(status="offered") | Q(offered_until__isnull=False),
                name="waitlist_offer_has_deadline",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.player} waiting for {self.session} ({self.status})"

    @property
    def is_open(self) -> bool:
        return self.status in self.OPEN


class IndividualBooking(models.Model):
    """A one-to-one lesson. Overlaps are excluded per coach and per player by PostgreSQL
    exclusion constraints (migration 0002) and, on every database, by the booking service."""

    class Status(models.TextChoices):
        BOOKED = "booked", "Booked"
        CANCELLED = "cancelled", "Cancelled"

    academy = models.ForeignKey(
        Academy, on_delete=models.CASCADE, related_name="individual_bookings"
    )
    coach = models.ForeignKey(Coach, on_delete=models.PROTECT, related_name="individual_bookings")
    player = models.ForeignKey(Player, on_delete=models.CASCADE, related_name="individual_bookings")
    session_type = models.ForeignKey(SessionType, on_delete=models.PROTECT, related_name="+")
    court = models.ForeignKey(
        Court, on_delete=models.PROTECT, null=True, blank=True, related_name="individual_bookings"
    )
    starts_at = models.DateTimeField(db_index=True)
    ends_at = models.DateTimeField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.BOOKED)
    booked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    cancelled_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    cancelled_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["starts_at", "id"]
        indexes = [models.Index(fields=["academy", "starts_at"], name="booking_day_idx")]
        constraints = [
            models.CheckConstraint(
                condition=Q(ends_at__gt=F("starts_at")), name="booking_ends_after_start"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.player} with {self.coach} {self.starts_at:%Y-%m-%d %H:%M} ({self.status})"

    @property
    def is_active(self) -> bool:
        return self.status == self.Status.BOOKED


class IdempotencyKey(models.Model):
    """The first result of a retried submission: the same key returns it again."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=64)
    operation = models.CharField(max_length=40)
    object_id = models.BigIntegerField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "key"], name="idempotency_key_unique")
        ]

    def __str__(self) -> str:
        return f"{self.operation} {self.key}"
