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


# -- what reaches a family when no page is open: emails and calendar feeds -----------------------


class EmailTopic(models.TextChoices):
    """What a user may turn off, each on by default (an EmailOptOut row turns one off)."""

    CANCELLATIONS = "cancellations", "Cancellations by the academy"
    PROMOTIONS = "promotions", "A place from the waiting list"
    ANNOUNCEMENTS = "announcements", "Announcements"
    REMINDERS = "reminders", "Reminders the day before"


class EmailOptOut(models.Model):
    """A user who does not want one topic's emails. No row: they get them."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="email_opt_outs"
    )
    topic = models.CharField(max_length=20, choices=EmailTopic.choices)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "topic"], name="email_opt_out_unique")
        ]

    def __str__(self) -> str:
        return f"{self.user}: no {self.topic}"


class OutgoingEmail(models.Model):
    """One email to one user, queued in the transaction of the change that causes it (so a
    rollback queues nothing) and sent after COMMIT by `manage.py send_mail`. The unique
    (kind, cause, recipient) makes a retried operation or a second reminder run a no-op.
    What it says is composed when it is sent (bookings.emails.compose), from `about_id`."""

    class Kind(models.TextChoices):
        RESERVATION_CANCELLED = "reservation_cancelled", "Reservation cancelled"
        LESSON_CANCELLED = "lesson_cancelled", "Lesson cancelled"
        SESSION_CANCELLED = "session_cancelled", "Session cancelled"
        WAITLIST_PROMOTION = "waitlist_promotion", "Place from the waiting list"
        WAITLIST_OFFER = "waitlist_offer", "Place held from the waiting list"
        ANNOUNCEMENT = "announcement", "Announcement"
        SESSION_REMINDER = "session_reminder", "Session reminder"
        LESSON_REMINDER = "lesson_reminder", "Lesson reminder"

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        SENT = "sent", "Sent"
        SKIPPED = "skipped", "Skipped"  # no longer true, or the recipient opted out meanwhile
        FAILED = "failed", "Failed"  # refused for good, or given up after every retry

    kind = models.CharField(max_length=24, choices=Kind.choices)
    # What happened, uniquely: "<row id>@<moment>" (a reservation is cancelled more than once
    # if it is reactivated in between; a session moved is reminded again).
    cause = models.CharField(max_length=120)
    about_id = models.BigIntegerField(help_text="The reservation, lesson or session it is about.")
    recipient = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="outgoing_emails"
    )
    data = models.JSONField(default=dict, blank=True)  # what an announcement says
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    # When a sender may take it next: now, after a back-off, or after a sender's lease.
    due_at = models.DateTimeField()
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    last_error = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["kind", "cause", "recipient"], name="outgoing_email_once"
            )
        ]
        indexes = [
            models.Index(
                fields=["due_at"], condition=Q(status="pending"), name="outgoing_email_due_idx"
            )
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} to {self.recipient} ({self.status})"


class CalendarFeed(models.Model):
    """A private calendar subscription (an .ics address with a random token). Only the token's
    SHA-256 is stored: the address is shown once, when made; resetting it makes a new one and
    the old address stops working."""

    class Scope(models.TextChoices):
        MINE = "mine", "My bookings"
        FAMILY = "family", "My children's bookings"
        COACH = "coach", "My coaching"

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="calendar_feeds"
    )
    scope = models.CharField(max_length=8, choices=Scope.choices)
    coach = models.ForeignKey(
        Coach, on_delete=models.CASCADE, null=True, blank=True, related_name="calendar_feeds"
    )
    token_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["scope", "id"]
        constraints = [
            # One feed per scope (and per coaching role): resetting replaces its token.
            models.UniqueConstraint(
                fields=["user", "scope"],
                condition=Q(coach__isnull=True),
                name="calendar_feed_one_per_scope",
            ),
            models.UniqueConstraint(
                fields=["user", "coach"],
                condition=Q(coach__isnull=False),
                name="calendar_feed_one_per_coach",
            ),
            models.CheckConstraint(
                condition=Q(scope="coach", coach__isnull=False)
                | (~Q(scope="coach") & Q(coach__isnull=True)),
                name="calendar_feed_coach_scope",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user}: {self.get_scope_display()}"


class Announcement(models.Model):
    """A message from a coach or the front desk to the people of a session, a day, or the whole
    academy (seed 004's broadcast). Everyone it reaches finds it in their inbox (InboxItem),
    so nobody who was offline misses it."""

    MAX_TEXT = 500

    class Audience(models.TextChoices):
        SESSION = "session", "The people of one session"
        DAY = "day", "Everyone booked on one day"
        ACADEMY = "academy", "The whole academy"
        FAMILY = "family", "One family, about one session"  # from the academy itself

    academy = models.ForeignKey(Academy, on_delete=models.CASCADE, related_name="announcements")
    sender = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    audience = models.CharField(max_length=10, choices=Audience.choices)
    session = models.ForeignKey(
        GroupSession, on_delete=models.CASCADE, null=True, blank=True, related_name="announcements"
    )
    day = models.DateField(null=True, blank=True)
    text = models.TextField(max_length=MAX_TEXT)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["sender", "created_at"], name="announcement_sender_idx")]
        constraints = [
            models.CheckConstraint(
                condition=(
                    Q(audience__in=["session", "family"], session__isnull=False, day__isnull=True)
                    | Q(audience="day", session__isnull=True, day__isnull=False)
                    | Q(audience="academy", session__isnull=True, day__isnull=True)
                ),
                name="announcement_audience_target",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_audience_display()}: {self.text[:40]}"


class InboxItem(models.Model):
    """One person's copy of an announcement, read or not."""

    announcement = models.ForeignKey(
        Announcement, on_delete=models.CASCADE, related_name="deliveries"
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="inbox_items"
    )
    read_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-announcement__created_at", "-id"]
        indexes = [models.Index(fields=["user", "read_at"], name="inbox_unread_idx")]
        constraints = [
            models.UniqueConstraint(fields=["announcement", "user"], name="inbox_item_unique")
        ]

    def __str__(self) -> str:
        return f"{self.user} ← {self.announcement}"


class Attendance(models.Model):
    """A check-in mark for one attendee: of a group session (through their reservation) or of a
    lesson. One per reservation or lesson; written by bookings.services.attendance only."""

    class Status(models.TextChoices):
        PRESENT = "present", "Present"
        LATE = "late", "Late"
        ABSENT = "absent", "Absent"

    # No foreign-key constraint in the database (the ORM still cascades): checking one takes a
    # KEY SHARE lock on the player, whom every booking locks FOR UPDATE, and a mark holds only
    # its session's lock. A mark would wait on a booking of that player that waits on this
    # session: a deadlock (found by tests/test_races.py). The player is the reservation's or
    # the lesson's, both constrained.
    player = models.ForeignKey(
        Player, on_delete=models.CASCADE, related_name="attendances", db_constraint=False
    )
    # A group session's attendee: the session (for the routing and the day's counts, from the
    # row alone) and the reservation. A lesson's: the lesson. Never both (the check below).
    session = models.ForeignKey(
        GroupSession, on_delete=models.CASCADE, null=True, blank=True, related_name="attendances"
    )
    reservation = models.OneToOneField(
        SessionReservation,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="attendance",
    )
    lesson = models.OneToOneField(
        IndividualBooking,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="attendance",
    )
    status = models.CharField(max_length=10, choices=Status.choices)
    walk_in = models.BooleanField(default=False)
    marked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    marked_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=(
                    Q(reservation__isnull=False, session__isnull=False, lesson__isnull=True)
                    | Q(reservation__isnull=True, session__isnull=True, lesson__isnull=False)
                ),
                name="attendance_of_a_reservation_or_a_lesson",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.player} {self.status}"

    @property
    def attended(self) -> bool:
        return self.status in (self.Status.PRESENT, self.Status.LATE)


class Feedback(models.Model):
    """A rating (1-5) with an optional comment, one per attendance, by the player or a guardian.
    Read by the family, the session's coaches and staff (bookings.access)."""

    MAX_COMMENT = 500

    attendance = models.OneToOneField(Attendance, on_delete=models.CASCADE, related_name="feedback")
    rating = models.PositiveSmallIntegerField()
    comment = models.CharField(max_length=MAX_COMMENT, blank=True)
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True, db_index=True)

    class Meta:
        verbose_name_plural = "feedback"
        constraints = [
            models.CheckConstraint(
                condition=Q(rating__gte=1, rating__lte=5), name="feedback_rating_1_to_5"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.rating}/5 for {self.attendance}"


class Goal(models.Model):
    """What a coach and a player work towards: set by a coach who teaches the player (or staff),
    read by the player and their guardians."""

    MAX_NOTES = 1000

    academy = models.ForeignKey(Academy, on_delete=models.CASCADE, related_name="goals")
    coach = models.ForeignKey(Coach, on_delete=models.CASCADE, related_name="goals")
    player = models.ForeignKey(Player, on_delete=models.CASCADE, related_name="goals")
    title = models.CharField(max_length=120)
    target_date = models.DateField(null=True, blank=True)
    progress = models.PositiveSmallIntegerField(default=0, help_text="Per cent, 0 to 100.")
    notes = models.TextField(max_length=MAX_NOTES, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["player__first_name", "target_date", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(progress__lte=100), name="goal_progress_at_most_100"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.player}: {self.title} ({self.progress} %)"

    @property
    def is_done(self) -> bool:
        return self.progress >= 100


class Activity(models.Model):
    """Who did what, for whom, when: the front desk's recent changes and a coach's activity.

    Written by the services in the transaction of what it records (so it holds exactly what
    committed), read newest first, and pruned to KEEP_DAYS (bookings.services.activity)."""

    KEEP_DAYS = 60

    class Verb(models.TextChoices):
        BOOKED = "booked", "booked"
        CANCELLED = "cancelled", "cancelled"
        SESSION_CANCELLED = "session_cancelled", "cancelled the session"
        PRESENT = "present", "checked in"
        LATE = "late", "checked in late"
        ABSENT = "absent", "marked absent"
        WALK_IN = "walk_in", "added a walk-in"
        RATED = "rated", "rated"
        PROMOTED = "promoted", "moved up from the waiting list"
        OFFERED = "offered", "was offered a place from the waiting list"

    academy = models.ForeignKey(Academy, on_delete=models.CASCADE, related_name="+")
    at = models.DateTimeField()
    verb = models.CharField(max_length=20, choices=Verb.choices)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        related_name="+",
        db_index=False,  # never looked up by; one index less on every booking's insert
    )
    # No constraint in the database, as Attendance.player: a cancellation holds only its
    # session's lock, and the check would wait on the player's (the ORM still cascades).
    player = models.ForeignKey(
        Player,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="+",
        db_constraint=False,
    )
    session = models.ForeignKey(
        GroupSession, on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    lesson = models.ForeignKey(
        IndividualBooking, on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    detail = models.CharField(max_length=40, blank=True)  # a rating: "4"

    class Meta:
        verbose_name_plural = "activity"
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["academy", "-at"], name="activity_recent_idx")]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M} {self.verb}"
