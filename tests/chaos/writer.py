"""One chaos writer process: random bookings, cancellations and session edits through the
services, straight on the stack's database (Django set up from the stack's environment).

`python -m tests.chaos.writer SEED COUNT KILL_RATE CROWD_JSON UNTIL` (UNTIL: a Unix time,
when it stops). After each operation's COMMIT, with probability KILL_RATE, the process
SIGKILLs itself before its publisher runs (the outbox row is committed, nothing sent): the
driver starts another writer for what is left. Prints one line per operation.
"""

from __future__ import annotations

import dataclasses
import json
import os
import random
import signal
import sys
import time

import django


def main() -> None:
    django.setup()
    from django.contrib.auth import get_user_model
    from django.db import transaction

    from bookings import services
    from bookings.errors import BookingError
    from bookings.models import Player, SessionReservation
    from bookings.services.sessions import plan_of
    from scheduling.models import GroupSession

    seed, count, kill_rate = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
    crowd, until = json.loads(sys.argv[4]), float(sys.argv[5])
    rng = random.Random(seed)
    staff = get_user_model().objects.get(username="staff")
    session_ids = [s["id"] for s in crowd["sessions"]]
    players = list(Player.objects.values_list("id", flat=True))

    def one() -> str:
        roll = rng.random()
        session = GroupSession.objects.get(pk=rng.choice(session_ids))
        if roll < 0.5:
            player = Player.objects.get(pk=rng.choice(players))
            services.reservation_create(player=player, session=session, actor=staff)
            return "reserve"
        if roll < 0.85:
            held = list(
                SessionReservation.objects.filter(
                    session_id__in=session_ids, status=SessionReservation.Status.RESERVED
                )[:50]
            )
            if not held:
                return "cancel-none"
            services.reservation_cancel(reservation=rng.choice(held), actor=staff)
            return "cancel"
        plan = dataclasses.replace(
            plan_of(session), capacity=rng.randint(2, 6), notes=f"chaos {rng.random():.6f}"
        )
        services.group_session_update(session=session, plan=plan, actor=staff)
        return "edit"

    for _ in range(count):
        if time.time() > until:
            return
        dies = rng.random() < kill_rate
        try:
            with transaction.atomic():
                if dies:  # first in line after COMMIT: before the publisher hears of it
                    transaction.on_commit(lambda: os.kill(os.getpid(), signal.SIGKILL))
                kind = one()
            print(kind, "ok", flush=True)
        except BookingError as refusal:
            print("refused", refusal.code, flush=True)


if __name__ == "__main__":
    main()
