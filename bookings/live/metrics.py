"""The live metrics page's one fragment (seed 004's "Performance Monitoring"): the live path's
figures from every worker of this host (realtime.metrics_report), pushed every 2 seconds while
someone watches (`every`, realtime.periodic) and on no change. Staff and admins
(`access.reads_live_metrics`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from bookings import access
from bookings.access import Principal
from realtime import metrics_report
from realtime.fragments import LiveFragment

# What each stream kind is, in the page's words (a kind not listed shows its name).
KIND_LABELS = {
    "day": "Day grid",
    "slots": "Lesson slots",
    "calendar": "Staff calendar",
    "coachcal": "Coach's calendar",
    "coachday": "Coach's day",
    "schedule": "Player's lists",
    "reservations": "Family's bookings",
    "goals": "Goals",
    "desk": "Front desk day",
    "deskfeed": "Recent changes",
    "plan": "Session plan",
    "editor": "Session editor",
    "inbox": "Inbox badge",
    "user": "Toasts",
    "metrics": "This page",
}


@dataclass(frozen=True)
class LiveMetrics(LiveFragment, name="metrics", template="fragments/metrics.html#metrics"):
    every: ClassVar[float] = 2.0

    def load(self) -> bool:
        return True  # nothing to look up: the figures are read when it renders

    def allowed(self, viewer: Principal, rows: Any) -> bool:
        return access.reads_live_metrics(viewer)

    def affected_by(self, change: Any) -> bool:
        return False  # a clock pushes it, not a change

    def context(self, rows: Any) -> dict[str, Any]:
        m = metrics_report.summary()
        kinds = [(KIND_LABELS.get(row.kind, row.kind), row) for row in m.kinds]
        return {"m": m, "kinds": kinds, "uptime": duration(m.uptime)}


def duration(seconds: float | None) -> str:
    """ "3 d 4 h", "2 h 5 min", "4 min 10 s"."""
    if seconds is None:
        return "unknown"
    s = int(seconds)
    days, hours, minutes = s // 86400, s // 3600 % 24, s // 60 % 60
    if days:
        return f"{days} d {hours} h"
    if hours:
        return f"{hours} h {minutes} min"
    return f"{minutes} min {s % 60} s"
