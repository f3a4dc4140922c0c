"""The inbox's unread count in every page's header, for its owner only (a personal stream)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Self

from bookings import access, selectors
from bookings.access import Principal
from bookings.live.changes import Change
from realtime.fragments import LiveFragment
from realtime.render_pass import keep, once


@dataclass(frozen=True)
class InboxBadge(
    LiveFragment, name="inbox", template="fragments/inbox.html#badge", personal=True, order=3
):
    user: int

    def load(self) -> int:
        return self.user

    def allowed(self, viewer: Principal, rows: int) -> bool:
        return access.reads_own_inbox(viewer, self.user)

    @classmethod
    def personal_for(cls, change: Change) -> list[Self]:
        return [cls(uid) for uid in sorted(change.inbox_user_ids)]

    def affected_by(self, change: Change) -> bool:
        return self.user in change.inbox_user_ids

    @classmethod
    def prepare(cls, fragments: list[Self]) -> None:
        # An announcement to a thousand open pages: one count query, not a thousand.
        counts = selectors.unread_counts([f.user for f in fragments])
        for fragment in fragments:
            keep(("unread", fragment.user), counts.get(fragment.user, 0))

    def context(self, rows: int) -> dict[str, Any]:
        return {"unread": once(("unread", self.user), lambda: selectors.unread_count(self.user))}
