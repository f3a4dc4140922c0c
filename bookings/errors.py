"""Domain errors of the booking operations. Views show `message`; tests assert `code`."""

from __future__ import annotations

from typing import Any

MESSAGES = {
    "not_allowed": "You are not allowed to do that.",
    "wrong_academy": "That belongs to another academy.",
    "session_full": "This session is full.",
    "session_past": "This session has already started.",
    "session_cancelled": "This session has been cancelled.",
    "already_reserved": "This player already has a reservation for this session.",
    "already_cancelled": "This has already been cancelled.",
    "cutoff_passed": "It is too late to cancel online; please contact the academy.",
    "beyond_horizon": "That is too far ahead to book yet.",
    "too_soon": "That is too soon to book; the academy needs more notice.",
    "slot_unavailable": "The coach does not offer a lesson at that time.",
    "slot_taken": "That time slot has just been taken.",
    "coach_busy": "The coach is busy at that time.",
    "player_busy": "The player already has a session at that time.",
    "court_busy": "The court is in use at that time.",
    "not_individual": "That session type is not an individual lesson.",
    "capacity_below_reservations": "Capacity cannot be lower than the reservations already made.",
    "not_group": "Choose a group session type.",
    "bad_times": "A session must end after it starts.",
    "coach_inactive": "That coach is not active.",
    "busy": "The academy is busy right now; please try again in a moment.",
    "feed_exists": "You already have that calendar link; reset it to get a new address.",
    "empty_message": "Write a message first.",
    "message_too_long": "That message is too long.",
    "too_many_messages": "You have sent a lot of messages in the last hour; please wait a while.",
    "bad_day": "That day is too far away.",
    "checkin_not_open": "Check-in opens on the day of the session.",
    "checkin_closed": "It is too long ago to change check-in; please ask the front desk.",
    "not_attended": "Only someone who was there can rate a session.",
    "rating_closed": "Ratings close a week after the session.",
    "bad_rating": "Choose a rating from 1 to 5.",
    "comment_too_long": "Please keep the comment under 500 characters.",
    "bad_status": "Choose present, late or absent.",
    "not_taught": "Goals are for players you teach.",
    "bad_goal": "A goal needs a title (up to 120 characters) and progress from 0 to 100.",
    "not_eligible": "This session is not open to this player.",
    "session_not_full": "There is a free spot: reserve it instead of joining the waiting list.",
    "already_waiting": "This player is already on the waiting list for this session.",
    "not_waiting": "This player is not on the waiting list for this session.",
    "offer_lapsed": "The spot offered to this player was not taken in time; it went to the "
    "next player on the waiting list.",
    "stale": "Someone else saved this session since you opened it.",
    "coach_away": "The coach is away at that time.",
    "moves_booked": "Sessions with reservations would move to a new time; confirm to move them.",
    "series_empty": "No session falls between those dates on that weekday.",
    "series_too_long": "A series can run for at most a year.",
    "bad_dates": "The last day must not be before the first.",
    "availability_overlap": "That overlaps another of the coach's windows for this lesson type.",
    "session_started": "A session that has started can only have its notes changed.",
}


class BookingError(Exception):
    """A booking operation refused; nothing was changed."""

    def __init__(self, code: str, message: str | None = None, *, existing: Any = None) -> None:
        self.code = code
        self.message = message or MESSAGES.get(code, "That could not be done.")
        self.existing = existing  # e.g. the reservation that made a new one a duplicate
        super().__init__(f"{code}: {self.message}")
