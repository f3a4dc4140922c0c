"""python manage.py send_mail: send the queued emails (bookings.emails.deliver).

Runs until stopped (SIGTERM or Ctrl-C finish the email in hand first): every few seconds it
sends what is due, every minute it queues the day-before reminders, and every hour it forgets
what was done more than 90 days ago. `--once` does one round of all three and exits, for cron.
Run one or several: they never send the same row.
"""

from __future__ import annotations

import signal
import time

from django.core.management.base import BaseCommand
from django.db import DatabaseError, close_old_connections

from bookings.emails.deliver import BATCH, deliver_all_due, prune
from bookings.emails.reminders import queue_reminders

REMINDERS_EVERY = 60.0  # seconds
PRUNE_EVERY = 3600.0


class Command(BaseCommand):
    help = "Send queued emails (and queue due reminders); --once for cron, else a loop."

    def add_arguments(self, parser):
        parser.add_argument("--once", action="store_true", help="One round, then exit.")
        parser.add_argument(
            "--interval", type=float, default=5.0, help="Seconds between rounds (default 5)."
        )
        parser.add_argument("--batch", type=int, default=BATCH, help="Emails per pass.")
        parser.add_argument(
            "--no-reminders", action="store_true", help="Do not queue reminders here."
        )

    def handle(self, *args, once: bool, interval: float, batch: int, no_reminders: bool, **opts):
        self.stopping = False
        if not once:
            signal.signal(signal.SIGTERM, self.stop)
            signal.signal(signal.SIGINT, self.stop)
            self.stdout.write(f"Sending queued emails every {interval:g} s; stop with Ctrl-C.")
        last_reminders = last_prune = float("-inf")
        while True:
            try:
                if not no_reminders and time.monotonic() - last_reminders >= REMINDERS_EVERY:
                    queued = queue_reminders()
                    last_reminders = time.monotonic()
                    if queued:
                        self.stdout.write(f"{queued} reminder(s) queued.")
                if time.monotonic() - last_prune >= PRUNE_EVERY:
                    prune()
                    last_prune = time.monotonic()
                tally = deliver_all_due(batch=batch)
                if tally.claimed or once:
                    self.stdout.write(f"Emails: {tally}.")
            except DatabaseError as error:  # the database away: try again next round
                if once:
                    raise
                self.stderr.write(f"Database unavailable, retrying: {error}")
            if once or self.stopping:
                return
            close_old_connections()  # a long-running loop: no stale or broken connection
            deadline = time.monotonic() + interval
            while not self.stopping and time.monotonic() < deadline:
                time.sleep(min(0.2, interval))

    def stop(self, signum, frame) -> None:
        self.stopping = True
