"""Email: who is told what, queued with the change that causes it, sent after COMMIT.

- `queue`: what the services call inside their transactions (one call per operation). A row per
  recipient in OutgoingEmail, only for users with an address who have not turned the topic
  off; unique per (kind, cause, recipient), so nothing is queued twice. A rollback takes the
  rows with it.
- `reminders`: the day-before reminders (`manage.py send_reminders`, or the sender's loop).
- `compose`: at sending time, what an email says (plain text and HTML, the academy's time zone),
  or that it is no longer true and is skipped.
- `deliver`: `manage.py send_mail`: claims due rows, sends them through Django's email
  backend, retries with back-off while the mail server is down.
- `unsubscribe`: the signed link in every email that turns its topic off without logging in.

The functions the services and later features call are these (see queue.py).
"""

from bookings.emails.queue import (
    announcement,
    lesson_cancelled,
    reservation_cancelled,
    session_cancelled,
    waitlist_offer,
    waitlist_promotion,
)

__all__ = [
    "announcement",
    "lesson_cancelled",
    "reservation_cancelled",
    "session_cancelled",
    "waitlist_offer",
    "waitlist_promotion",
]
