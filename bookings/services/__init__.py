"""The booking operations (seed 000's RPCs, and the academy's schedule), one module per subject.

Each operation is one transaction: authorize the actor, take every row lock it needs at once
(bookings.locks), validate, write. Domain refusals are BookingError with a `code`. Live pages
hear of the writes through model signals after COMMIT (bookings.live.capture), so operations
never broadcast themselves (bulk writes say what they did with one event: series.py).
"""

from bookings.services.attendance import attendance_mark, attendance_walk_in
from bookings.services.coaches import (
    availability_add,
    availability_remove,
    time_off_add,
    time_off_remove,
)
from bookings.services.feedback import feedback_save
from bookings.services.goals import GoalPlan, goal_create, goal_step, goal_update
from bookings.services.lessons import individual_booking_cancel, individual_booking_create
from bookings.services.reservations import reservation_cancel, reservation_create
from bookings.services.series import series_cancel, series_create, series_update
from bookings.services.sessions import (
    group_session_cancel,
    group_session_create,
    group_session_update,
)
from bookings.services.waitlist import expire_offers, waitlist_join, waitlist_leave

__all__ = [
    "GoalPlan",
    "attendance_mark",
    "attendance_walk_in",
    "availability_add",
    "availability_remove",
    "expire_offers",
    "feedback_save",
    "goal_create",
    "goal_step",
    "goal_update",
    "group_session_cancel",
    "group_session_create",
    "group_session_update",
    "individual_booking_cancel",
    "individual_booking_create",
    "reservation_cancel",
    "reservation_create",
    "series_cancel",
    "series_create",
    "series_update",
    "time_off_add",
    "time_off_remove",
    "waitlist_join",
    "waitlist_leave",
]
