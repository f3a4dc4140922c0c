"""Who else is looking at an academy's grids and calendars (realtime.presence), by the access
rules: staff and coaches see names and roles, families a count."""

from __future__ import annotations

from bookings import access
from bookings.access import Principal
from realtime.fragments import Presence


def academy_presence(viewer: Principal, academy_id: int, place: str) -> Presence:
    return Presence(
        name=viewer.name,
        role=access.presence_role(viewer, academy_id),
        sees_names=access.sees_presence_names(viewer, academy_id),
        place=place,
    )
