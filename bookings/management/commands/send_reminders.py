"""python manage.py send_reminders: queue the day-before reminders that are due (cron, say every
ten minutes; `send_mail`'s loop also does it every minute). Run it as often as you like: a
reminder is queued once, and `send_mail` sends it."""

from __future__ import annotations

from django.core.management.base import BaseCommand

from bookings.emails.reminders import queue_reminders


class Command(BaseCommand):
    help = "Queue the reminders for what starts within 24 hours (each one once)."

    def handle(self, *args, **options):
        added = queue_reminders()
        self.stdout.write(f"{added} reminder(s) queued.")
