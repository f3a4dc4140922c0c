"""What happened, said by whoever wrote it, and sent after COMMIT.

An `Event` is a name and a few JSON-able facts ("reservation 12 of player 5 in session 9 is now
cancelled, by user 3"). Writers say it: model signals through realtime.capture for rows saved
one at a time (the admin included), `send_on_commit` for writers that bypass signals
(`QuerySet.update`, `bulk_create`) through realtime.publisher.send_on_commit. It leaves only
after the transaction commits, through Django's `on_commit`, so a rollback (of the transaction
or of a savepoint) sends nothing.

After COMMIT, in the publisher thread, the apps' routers turn a batch of events into what the
engine delivers (`Routing`): the changes fragments are asked about, the toasts, and the users
whose access may have changed. Routers may read the database there, off the request path and
outside the writer's locks.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Event:
    name: str
    data: dict[str, Any]  # JSON-able: ids, ISO times, short strings


@dataclass(frozen=True)
class Note:
    """A toast for one user: a short text and, optionally, where it leads."""

    user_id: int
    text: str
    url: str = ""


@dataclass
class Routing:
    changes: list[Any] = field(default_factory=list)  # handed to the fragments (app-defined)
    notes: list[Note] = field(default_factory=list)
    recheck_user_ids: set[int] = field(default_factory=set)  # their sockets re-check access

    def extend(self, other: Routing) -> None:
        self.changes.extend(other.changes)
        self.notes.extend(other.notes)
        self.recheck_user_ids |= other.recheck_user_ids


Router = Callable[[list[Event]], Routing]
_routers: list[Router] = []


def router(route: Router) -> Router:
    """Register an app's router (a decorator): it gets every batch of events."""
    _routers.append(route)
    return route


def route(events: list[Event]) -> Routing:
    routing = Routing()
    for each in _routers:
        routing.extend(each(events))
    return routing
