"""A change of occupancy pushes the touched sessions' cards alone, not the whole grid or week."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from django.template.loader import render_to_string
from django.utils import timezone

from bookings import selectors
from bookings.live.changes import Change
from realtime.render_pass import once
from scheduling.models import Academy, Coach


def academy_row(academy_id: int) -> Academy | None:
    return once(("academy", academy_id), lambda: Academy.objects.filter(pk=academy_id).first())


def occupancy_cards(
    template: str,
    change: Change,
    academy_id: int,
    start: datetime,
    end: datetime,
    *,
    context: dict[str, Any],
    coach: Coach | None = None,
    only_coach: bool = False,
    all_names: bool = False,
    variant: str = "",
    keep: Callable[[selectors.SessionView], bool] | None = None,
    render: Callable[[selectors.SessionView], str] | None = None,
) -> str | None:
    """For a change of occupancy only (a reservation made or cancelled): the cards of the
    touched sessions shown in [start, end), out of band, so a push is one card of ~1 KB rather
    than the whole grid or week (less to render, to send to every viewer and to parse). None for
    any other change. `coach`: the calendar's coach (names on their own sessions only);
    `only_coach`: show only that coach's sessions; `variant`: what else in `context` changes a
    card's HTML (the check-in buttons of a coach's day), so that one pass's renders of the same
    session are shared only between fragments that show it alike. `keep`: the calendar's filters;
    `render`: a card renderer in Python (the compact calendar cards), used instead of `template`
    (which then only names the card's kind in the shared renders)."""
    if not (change.occupancy_only and change.session_ids):
        return None
    ids = frozenset(change.session_ids)
    touched = once(
        ("touched", academy_id, ids),
        lambda: selectors.sessions_between(
            academy_id, None, None, include_lessons=False, session_ids=ids, all_names=True
        ),
    )
    shown = [
        s
        for s in touched
        if s.starts_at < end
        and s.ends_at > start
        and (not only_coach or (coach is not None and coach.pk in s.coach_ids))
        and (keep is None or keep(s))
    ]
    shown = selectors.for_viewer(
        shown,
        all_names=all_names,
        names_for_coach_ids=frozenset([coach.pk]) if coach is not None else None,
    )
    base = {**context, "now": timezone.now(), "oob": True}

    def card(s: selectors.SessionView) -> str:
        # What a card's HTML depends on besides the session: names shown, and whether this
        # viewer may cancel the whole session (staff, or the session's own coach).
        own = coach is None or coach.pk in s.coach_ids
        return once(
            ("card", template, s.pk, bool(s.attendees), own, variant),
            lambda: render(s) if render else render_to_string(template, {**base, "s": s}),
        )

    return "".join(card(s) for s in shown)
