"""Change capture from model signals: every save and delete of a published model says what
happened, as an event sent after COMMIT.

An app publishes a model with `publish_model(Model, describe)`. `describe` builds the event from
the row alone (its own fields, and the values `remember` kept from before the save), without
reading anything else: who is affected by it is the routers' business, after COMMIT. Signals
only describe; business rules stay in the apps' services. Rows written without signals
(`QuerySet.update`, `bulk_create`) are published by their writer with `send_on_commit`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.db import models
from django.db.models.signals import post_delete, post_save, pre_save

from realtime.events import Event
from realtime.publisher import send_on_commit


@dataclass(frozen=True)
class Saved:
    """How a row changed: created, updated or deleted, and what `remember` kept of it."""

    created: bool = False
    deleted: bool = False
    old: dict[str, Any] = field(default_factory=dict)  # field -> value before this save


Describe = Callable[[Any, Saved], Event | None]
_published: dict[type[models.Model], tuple[Describe, tuple[str, ...]]] = {}
_OLD = "_live_old_values"


def publish_model(
    model: type[models.Model], describe: Describe, *, remember: tuple[str, ...] = ()
) -> None:
    """Publish every save and delete of `model`. `remember`: fields whose value before a save
    the description needs (a moved session's old day, a link's old guardian); kept by one read
    before saves that may change them."""
    _published[model] = (describe, remember)
    uid = f"courtside-live-{model._meta.label_lower}"
    post_save.connect(_on_save, sender=model, dispatch_uid=f"{uid}-save")
    post_delete.connect(_on_delete, sender=model, dispatch_uid=f"{uid}-delete")
    if remember:
        pre_save.connect(_remember, sender=model, dispatch_uid=f"{uid}-remember")


def _remember(
    sender: type[models.Model], instance: Any, update_fields: Any = None, **kwargs: Any
) -> None:
    fields = _published[sender][1]
    if instance.pk is None or kwargs.get("raw"):
        return
    if update_fields is not None:
        fields = tuple(name for name in fields if _touched(name, update_fields))
        if not fields:
            return
    old = sender._default_manager.filter(pk=instance.pk).values(*fields).first()
    setattr(instance, _OLD, old or {})


def _touched(name: str, update_fields: Any) -> bool:
    return name in update_fields or name.removesuffix("_id") in update_fields


def _on_save(sender: type[models.Model], instance: Any, created: bool, **kwargs: Any) -> None:
    if kwargs.get("raw"):
        return  # fixtures loading
    old = instance.__dict__.pop(_OLD, {})
    _send(sender, instance, Saved(created=created, old=old))


def _on_delete(sender: type[models.Model], instance: Any, **kwargs: Any) -> None:
    _send(sender, instance, Saved(deleted=True))


def _send(sender: type[models.Model], instance: Any, saved: Saved) -> None:
    event = _published[sender][0](instance, saved)
    if event is not None:
        send_on_commit(event)
