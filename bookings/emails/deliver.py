"""Sending what is queued: `manage.py send_mail` runs `deliver_due` (in a loop, or once from
cron). Never in a request: a mail server that is down makes mail late, never a booking fail.

A pass claims up to `batch` due rows (FOR UPDATE SKIP LOCKED on PostgreSQL, so two senders
never take the same row; SQLite's write lock serializes them) and leases them: their due time
moves `LEASE` ahead, so rows of a sender that died mid-pass are taken again later. Each row is
composed (bookings.emails.compose) and sent on one connection to the mail server, then marked
sent at once. A refusal for good (a 5xx for the address) fails the row; anything else (the
server down, a timeout, a 4xx) retries it after a back-off that doubles from one minute up to
six hours, `MAX_ATTEMPTS` times in all (about 14 hours), and stops the pass when the
connection is gone.

Once, with one exception: a sender that dies after the mail server took a message and before
the row is marked sent sends it again after the lease. Email has no way to ask the server.
"""

from __future__ import annotations

import logging
import smtplib
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.core.mail import mailers
from django.core.mail.backends.base import BaseEmailBackend
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from bookings.emails import compose
from bookings.models import OutgoingEmail

log = logging.getLogger(__name__)

BATCH = 20
LEASE = timedelta(minutes=15)
MAX_ATTEMPTS = 10
FIRST_RETRY = timedelta(minutes=1)
LONGEST_RETRY = timedelta(hours=6)
KEEP = timedelta(days=90)  # how long the queue remembers what it did (the admin shows it)

Status = OutgoingEmail.Status


@dataclass
class Tally:
    sent: int = 0
    skipped: int = 0
    retrying: int = 0
    failed: int = 0

    @property
    def claimed(self) -> int:
        return self.sent + self.skipped + self.retrying + self.failed

    def add(self, other: Tally) -> None:
        self.sent += other.sent
        self.skipped += other.skipped
        self.retrying += other.retrying
        self.failed += other.failed

    def __str__(self) -> str:
        return (
            f"{self.sent} sent, {self.skipped} skipped, {self.retrying} to retry, "
            f"{self.failed} failed"
        )


def backoff(attempts: int) -> timedelta:
    """After the n-th failed attempt: 1, 2, 4, ... minutes, at most six hours."""
    return min(FIRST_RETRY * 2 ** max(attempts - 1, 0), LONGEST_RETRY)


def deliver_due(*, now: datetime | None = None, batch: int = BATCH) -> Tally:
    """One pass: send up to `batch` due emails."""
    now = now or timezone.now()
    tally = Tally()
    rows = _claim(now, batch)
    if not rows:
        return tally
    connection = mailers.default
    try:
        connection.open()  # SMTP: connect and log in now, once for the batch
    except Exception as error:
        for row in rows:
            _retry(row, error, now, tally)
        return tally
    try:
        for index, row in enumerate(rows):
            if not _send_one(row, connection, now, tally):
                for rest in rows[index + 1 :]:  # the connection is gone: the rest wait too
                    _retry(rest, ConnectionError("not tried: the connection was lost"), now, tally)
                break
    finally:
        try:
            connection.close()
        except Exception:  # closing a broken connection says nothing new
            log.debug("closing the mail connection failed", exc_info=True)
    return tally


def deliver_all_due(*, now: datetime | None = None, batch: int = BATCH) -> Tally:
    """Passes until nothing is due (what a cron run does)."""
    total = Tally()
    while True:
        tally = deliver_due(now=now, batch=batch)
        total.add(tally)
        if tally.claimed < batch:
            return total


def prune(*, now: datetime | None = None) -> int:
    """Forget emails sent, skipped or failed more than KEEP ago (pending ones stay). Safe for
    "once": nothing can queue the same cause again so long after."""
    now = now or timezone.now()
    deleted, _ = (
        OutgoingEmail.objects.exclude(status=Status.PENDING)
        .filter(created_at__lt=now - KEEP)
        .delete()
    )
    return deleted


def _claim(now: datetime, batch: int) -> list[OutgoingEmail]:
    due = OutgoingEmail.objects.filter(status=Status.PENDING, due_at__lte=now)
    if not due.exists():  # the usual answer, without taking SQLite's write lock
        return []
    with transaction.atomic():
        ids = list(
            due.select_for_update(skip_locked=True)
            .order_by("due_at", "pk")
            .values_list("pk", flat=True)[:batch]
        )
        OutgoingEmail.objects.filter(pk__in=ids).update(
            due_at=now + LEASE, attempts=F("attempts") + 1
        )
    return list(OutgoingEmail.objects.filter(pk__in=ids).select_related("recipient").order_by("pk"))


def _send_one(
    row: OutgoingEmail, connection: BaseEmailBackend, now: datetime, tally: Tally
) -> bool:
    """Send one row; False if the connection to the mail server is gone."""
    try:
        message = compose.render(row)
    except Exception as error:  # a fault of ours: retried, so a fix sends it
        log.exception("composing email %s failed", row.pk)
        _retry(row, error, now, tally)
        return True
    if message is None:
        _mark(row, Status.SKIPPED, now, "")
        tally.skipped += 1
        return True
    try:
        sent = connection.send_messages([message])
    except Exception as error:
        if _refused_for_good(error):
            _mark(row, Status.FAILED, now, _describe(error))
            tally.failed += 1
            log.error("email %s refused by the mail server: %s", row.pk, _describe(error))
            return True
        _retry(row, error, now, tally)
        return not isinstance(error, OSError | smtplib.SMTPServerDisconnected)
    if not sent:
        _retry(row, ConnectionError("the mail backend sent nothing"), now, tally)
        return True
    _mark(row, Status.SENT, now, "")
    tally.sent += 1
    return True


def _refused_for_good(error: Exception) -> bool:
    """A permanent (5xx) answer about this message or its recipients."""
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        return all(code >= 500 for code, _ in error.recipients.values())
    if isinstance(error, smtplib.SMTPResponseException):
        return error.smtp_code >= 500
    return False


def _describe(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}"[:300]


def _retry(row: OutgoingEmail, error: BaseException, now: datetime, tally: Tally) -> None:
    if row.attempts >= MAX_ATTEMPTS:
        _mark(row, Status.FAILED, now, _describe(error))
        tally.failed += 1
        log.error("email %s given up after %s attempts: %s", row.pk, row.attempts, error)
        return
    OutgoingEmail.objects.filter(pk=row.pk).update(
        due_at=now + backoff(row.attempts), last_error=_describe(error)
    )
    tally.retrying += 1
    log.warning("email %s not sent (attempt %s), will retry: %s", row.pk, row.attempts, error)


def _mark(row: OutgoingEmail, status: str, now: datetime, error: str) -> None:
    sent_at = now if status == Status.SENT else None
    OutgoingEmail.objects.filter(pk=row.pk).update(status=status, sent_at=sent_at, last_error=error)
