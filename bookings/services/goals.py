"""Goals: a coach sets them for players they teach (staff for any coach and player of the
academy); progress moves in steps from the tablet or in the edit form. A player's goals are
written under the player's lock (bookings.locks), so two taps of +10 add 20 rather than one
overwriting the other."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from django.contrib.auth.models import User
from django.db import transaction

from bookings.access import Action, Principal, can, sets_goals
from bookings.errors import BookingError
from bookings.locks import lock
from bookings.models import Goal, Player
from scheduling.models import Coach

TITLE_MAX = 120


@dataclass(frozen=True)
class GoalPlan:
    """What a goal is to be: every field the form sets."""

    title: str
    target_date: date | None = None
    progress: int = 0
    notes: str = ""

    def cleaned(self) -> GoalPlan:
        title, notes = self.title.strip(), self.notes.replace("\r\n", "\n").strip()
        if not title or len(title) > TITLE_MAX or not 0 <= self.progress <= 100:
            raise BookingError("bad_goal")
        if len(notes) > Goal.MAX_NOTES:
            notes_limit = f"Please keep the notes under {Goal.MAX_NOTES} characters."
            raise BookingError("bad_goal", notes_limit)
        return GoalPlan(title, self.target_date, self.progress, notes)


def goal_create(*, actor: User, coach: Coach, player: Player, plan: GoalPlan) -> Goal:
    principal = Principal.load(actor)
    if coach.academy_id != player.academy_id:
        raise BookingError("wrong_academy")
    if not sets_goals(principal, coach, player):
        own = coach.pk in principal.coach_academy_by_id
        raise BookingError("not_taught" if own else "not_allowed")
    plan = plan.cleaned()
    with transaction.atomic():
        # The coach's lock too: the new row's foreign key on the coach would otherwise wait on a
        # lesson booking that holds the coach and waits on this player (lock order).
        lock(coaches=[coach.pk], players=[player.pk])
        return Goal.objects.create(
            academy_id=coach.academy_id,
            coach=coach,
            player=player,
            title=plan.title,
            target_date=plan.target_date,
            progress=plan.progress,
            notes=plan.notes,
        )


def goal_update(*, actor: User, goal: Goal, plan: GoalPlan) -> Goal:
    if not can(Principal.load(actor), Action.UPDATE, goal):
        raise BookingError("not_allowed")
    plan = plan.cleaned()
    with transaction.atomic():
        lock(players=[goal.player_id])
        goal = Goal.objects.get(pk=goal.pk)
        goal.title, goal.target_date = plan.title, plan.target_date
        goal.progress, goal.notes = plan.progress, plan.notes
        goal.save()
    return goal


def goal_step(*, actor: User, goal: Goal, step: int) -> Goal:
    """Move progress by `step` per cent (clamped to 0-100) from what it is now."""
    if not can(Principal.load(actor), Action.UPDATE, goal):
        raise BookingError("not_allowed")
    with transaction.atomic():
        lock(players=[goal.player_id])
        goal = Goal.objects.get(pk=goal.pk)
        progress = max(0, min(100, goal.progress + step))
        if progress != goal.progress:
            goal.progress = progress
            goal.save(update_fields=["progress", "updated_at"])
    return goal
