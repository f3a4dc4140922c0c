"""The live engine's one table: the outbox of events (realtime.outbox)."""

from __future__ import annotations

from django.db import models
from django.db.models import Q


class OutboxEvent(models.Model):
    """An event written in its writer's transaction, so that it exists exactly when the change
    it describes does; sent after COMMIT by the writer's publisher, or by any serving process's
    sweeper once `due_at` has passed (the writer died, or exited before it could send)."""

    name = models.CharField(max_length=64)
    data = models.JSONField()
    created_at = models.DateTimeField()
    # Until then the row is its writer's (or the sweeper's that claimed it) to send.
    due_at = models.DateTimeField()
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["due_at"], condition=Q(sent_at__isnull=True), name="outbox_due"),
            models.Index(
                fields=["sent_at"], condition=Q(sent_at__isnull=False), name="outbox_sent"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} #{self.pk}"
