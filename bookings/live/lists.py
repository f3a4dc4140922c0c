"""A player's or a family's own lists: "My schedule" and "Reservations" (personal streams)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import tzinfo
from typing import Any, ClassVar, Literal, Self

from django.utils import timezone

from bookings import access, selectors
from bookings.access import Principal
from bookings.live.changes import Change
from bookings.models import Player
from realtime.fragments import LiveFragment

Scope = Literal["player", "family"]


@dataclass(frozen=True)
class Owner:
    players: list[Player]
    guardian_id: int | None  # a family list: every child of this parent (a user id)


@dataclass(frozen=True)
class OwnerList(LiveFragment):
    """One player's list (`player`, a player id) or a whole family's (`family`, the parent's
    user id, with whose entry each line is)."""

    scope: Scope
    owner: int
    upcoming_only: ClassVar[bool]

    @classmethod
    def of_player(cls, player_id: int) -> Self:
        return cls("player", player_id)

    @classmethod
    def of_family(cls, guardian_user_id: int) -> Self:
        return cls("family", guardian_user_id)

    def load(self) -> Owner | None:
        if self.scope == "family":
            return Owner(selectors.family_players(self.owner), self.owner)
        player = Player.objects.select_related("academy").filter(pk=self.owner).first()
        return None if player is None else Owner([player], None)

    def allowed(self, viewer: Principal, rows: Owner) -> bool:
        if self.scope == "family":
            return access.reads_family_lists(viewer, self.owner)
        return access.reads_player_lists(viewer, rows.players[0])

    @classmethod
    def owners(cls, change: Change) -> tuple[set[int], set[int]]:
        """The players and the guardians (users) whose lists of this kind a change touches."""
        return change.player_ids, change.guardian_ids

    @classmethod
    def personal_for(cls, change: Change) -> list[Self]:
        players, guardians = cls.owners(change)
        return [cls.of_player(pid) for pid in sorted(players)] + [
            cls.of_family(gid) for gid in sorted(guardians)
        ]

    def affected_by(self, change: Change) -> bool:
        players, guardians = self.owners(change)
        return self.owner in (players if self.scope == "player" else guardians)  # as personal_for

    def context(self, rows: Owner) -> dict[str, Any]:
        context: dict[str, Any] = {
            "entries": selectors.schedule_entries(
                [p.pk for p in rows.players], upcoming_only=self.upcoming_only
            ),
            "show_player": rows.guardian_id is not None,
        }
        if self.upcoming_only and rows.players:
            # What the schedule page marks on its shared grids (see templates/fragments/
            # lists.html#holdings): the family's players and the types not open to them.
            today = timezone.localdate(timezone.now(), rows.players[0].academy.tz)
            closed = selectors.closed_types(rows.players, today)
            context["holders"] = [(p, closed[p.pk]) for p in rows.players]
        return context

    def time_zone(self, rows: Owner) -> tzinfo | None:
        return rows.players[0].academy.tz if rows.players else None


@dataclass(frozen=True)
class Schedule(
    OwnerList, name="schedule", template="fragments/lists.html#schedule", personal=True, order=4
):
    """The last two weeks and the next two months, to look at."""

    upcoming_only = False


@dataclass(frozen=True)
class Reservations(
    OwnerList,
    name="reservations",
    template="fragments/lists.html#reservations",
    personal=True,
    order=4,
):
    """What is still to come, with Cancel buttons, the family's waiting list places (Leave,
    Take the spot), and, hidden, what it holds: the page marks its shared day grid and lesson
    slots from it ("Booked for Isla", "2nd on the waiting list"), so those stay one render for
    every viewer."""

    upcoming_only = True
