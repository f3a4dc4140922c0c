"""python manage.py expire_waitlist_offers: pass on every spot whose claim window has lapsed.

Safe to run every minute from cron, and at any moment as often as you like: each session is
settled under its own row lock (bookings.services.waitlist.expire_offers), so two runs, or a run
and a booking of the session, never pass one spot on twice. Every operation that touches a
session settles it first anyway; this catches the sessions nobody touches.

    * * * * *  cd /srv/courtside && .venv/bin/python manage.py expire_waitlist_offers --quiet
"""

from __future__ import annotations

from django.core.management.base import BaseCommand

from bookings.services import expire_offers


class Command(BaseCommand):
    help = "Expire lapsed waiting list offers and offer or give the spots to the next players."

    def add_arguments(self, parser):
        parser.add_argument("--quiet", action="store_true", help="Say nothing when idle.")

    def handle(self, *args, quiet: bool = False, **options):
        expired = expire_offers()
        if expired or not quiet:
            self.stdout.write(f"Expired {expired} waiting list offer(s).")
