"""The access policy as explicit tables: who may run which operation, who may do what to which
row (`bookings.access.can`).

The cast (tests/factories.build_world), in academy A unless marked "B":

    player          Mia's own login
    parent          guardian of Leo and Ada (children without logins)
    other_parent    guardian of Kai (another family)
    coach           coaches `session` (Mia and Leo reserved) and Mia's lesson
    coach2          coaches `session2` (Kai reserved) and Leo's lesson
    staff           front desk of A
    admin           superuser
    anonymous       not logged in
    foreign_*       staff, coach, player and parent of academy B

A change to the policy must change these tables, so the policy is reviewed where it is written.
"""

from __future__ import annotations

import copy
from datetime import timedelta
from types import SimpleNamespace

import pytest
from django.contrib.auth.models import AnonymousUser
from django.db import transaction

from bookings.access import (
    Action,
    Principal,
    can,
)
from bookings.errors import BookingError
from bookings.models import IdempotencyKey, IndividualBooking, SessionReservation
from bookings.services import (
    group_session_cancel,
    individual_booking_cancel,
    individual_booking_create,
    reservation_cancel,
    reservation_create,
)
from scheduling.models import Coach, GroupSession
from tests.factories import (
    book,
    build_world,
    days_ahead,
    local,
    make_individual_type,
    make_session,
    reserve,
)

pytestmark = pytest.mark.django_db

ROLES = [
    "player",
    "parent",
    "other_parent",
    "coach",
    "coach2",
    "staff",
    "admin",
    "anonymous",
    "foreign_staff",
    "foreign_coach",
    "foreign_player",
    "foreign_parent",
]


def parse(table: str) -> dict[str, dict[str, str]]:
    """A whitespace-aligned table: the first row names the columns, the first column the role."""
    rows = [line.split() for line in table.strip().splitlines() if line.strip()]
    header, *body = rows
    parsed = {row[0]: dict(zip(header[1:], row[1:], strict=True)) for row in body}
    assert list(parsed) == ROLES, "every role has exactly one row, in ROLES order"
    return parsed


def cells(table: dict[str, dict[str, str]]) -> list[tuple[str, str, str]]:
    return [(role, col, value) for role, row in table.items() for col, value in row.items()]


# == 1. Operations ================================================================================
#
# ok = succeeds;  NA = BookingError("not_allowed");  WA = BookingError("wrong_academy")
#
#   rsv:Mia   reservation_create(Mia, an A session)         (the player's own)
#   rsv:Leo   reservation_create(Leo, an A session)         (the parent's child)
#   rsv:Kai   reservation_create(Kai, an A session)         (another family's child)
#   rsv:B>A   reservation_create(B's player, an A session)  (another academy's player)
#   rsv:B>B   reservation_create(B's player, a B session)   (B at home: proves B users work)
#   can:Mia   reservation_cancel(Mia's reservation in coach's session)
#   can:Leo   reservation_cancel(Leo's reservation in coach's session)
#   bk:Mia    individual_booking_create(Mia, coach)
#   bk:Leo    individual_booking_create(Leo, coach)
#   bk:B>A    individual_booking_create(B's player, coach of A)
#   lcan:Mia  individual_booking_cancel(Mia's lesson with coach)
#   lcan:Leo  individual_booking_cancel(Leo's lesson with coach2)
#   grp:can   group_session_cancel(coach's session)

OPERATIONS = parse("""
role            rsv:Mia rsv:Leo rsv:Kai rsv:B>A rsv:B>B can:Mia can:Leo bk:Mia bk:Leo bk:B>A lcan:Mia lcan:Leo grp:can
player          ok      NA      NA      NA      NA      ok      NA      ok     NA     NA     ok       NA       NA
parent          NA      ok      NA      NA      NA      NA      ok      NA     ok     NA     NA       ok       NA
other_parent    NA      NA      ok      NA      NA      NA      NA      NA     NA     NA     NA       NA       NA
coach           NA      NA      NA      NA      NA      ok      ok      NA     NA     NA     ok       NA       ok
coach2          NA      NA      NA      NA      NA      NA      NA      NA     NA     NA     NA       ok       NA
staff           ok      ok      ok      NA      NA      ok      ok      ok     ok     NA     ok       ok       ok
admin           ok      ok      ok      WA      ok      ok      ok      ok     ok     WA     ok       ok       ok
anonymous       NA      NA      NA      NA      NA      NA      NA      NA     NA     NA     NA       NA       NA
foreign_staff   NA      NA      NA      WA      ok      NA      NA      NA     NA     WA     NA       NA       NA
foreign_coach   NA      NA      NA      NA      NA      NA      NA      NA     NA     NA     NA       NA       NA
foreign_player  NA      NA      NA      WA      ok      NA      NA      NA     NA     WA     NA       NA       NA
foreign_parent  NA      NA      NA      NA      NA      NA      NA      NA     NA     NA     NA       NA       NA
""")  # noqa: E501

# == 2. can(principal, action, row) ===============================================================
#
# Letters of the actions allowed: R read, C create, U update (cancel), D delete; "-" none.
#
#   res:Mia / res:Leo   reservations in coach's session;   res:B   B's player in B's session
#   les:Mia             Mia's lesson with coach;           les:Leo Leo's lesson with coach2
#   ses                 coach's group session;             ses:B   B's group session
#   pl:Mia pl:Leo pl:Kai pl:B   players (Kai is reserved in coach2's session; pl:B has res:B)

PERMISSIONS = parse("""
role            res:Mia res:Leo res:B les:Mia les:Leo ses  ses:B pl:Mia pl:Leo pl:Kai pl:B
player          RCU     -       -     RCU     -       R    -     R      -      -      -
parent          -       RCU     -     -       RCU     R    -     -      R      -      -
other_parent    -       -       -     -       -       R    -     -      -      R      -
coach           RU      RU      -     RU      -       RU   -     R      R      -      -
coach2          -       -       -     -       RU      R    -     -      R      R      -
staff           RCUD    RCUD    -     RCUD    RCUD    RCUD -     RCUD   RCUD   RCUD   -
admin           RCUD    RCUD    RCUD  RCUD    RCUD    RCUD RCUD  RCUD   RCUD   RCUD   RCUD
anonymous       -       -       -     -       -       -    -     -      -      -      -
foreign_staff   -       -       RCUD  -       -       -    RCUD  -      -      -      RCUD
foreign_coach   -       -       RU    -       -       -    RU    -      -      -      R
foreign_player  -       -       RCU   -       -       -    R     -      -      -      R
foreign_parent  -       -       -     -       -       -    R     -      -      -      -
""")

# -- the scene -----------------------------------------------------------------------------------


def build_scene() -> SimpleNamespace:
    """The world plus the rows the tables talk about."""
    w = build_world()
    s = SimpleNamespace(world=w, now=w.session.starts_at - timedelta(days=2))
    s.rows = {
        "res:Mia": reserve(w.session, w.player, by=w.player_user),
        "res:Leo": reserve(w.session, w.child, by=w.parent_user),
        "res:Kai": reserve(w.session2, w.other_child, by=w.other_parent_user),
        "res:B": reserve(w.foreign_session, w.foreign_player, by=w.foreign_player_user),
        "les:Mia": book(w.coach, w.player, w.lesson_type, local(w.academy, days_ahead(5), 14)),
        "les:Leo": book(w.coach2, w.child, w.lesson_type, local(w.academy, days_ahead(5), 14)),
        "les:B": book(
            w.foreign_coach,
            w.foreign_child,
            make_individual_type(w.other_academy),
            local(w.other_academy, days_ahead(5), 14),
        ),
        "ses": w.session,
        "ses2": w.session2,
        "ses:B": w.foreign_session,
        "pl:Mia": w.player,
        "pl:Leo": w.child,
        "pl:Kai": w.other_child,
        "pl:B": w.foreign_player,
    }
    # Open sessions (A's and B's) for the reservation columns, a free slot for the booking ones.
    s.target = make_session(
        w.academy, coaches=[w.coach2], starts_at=local(w.academy, days_ahead(7), 10), capacity=8
    )
    s.target_b = make_session(
        w.other_academy, starts_at=local(w.other_academy, days_ahead(7), 10), capacity=8
    )
    s.slot = local(w.academy, days_ahead(6), 15)
    return s


# Built once per module inside an outer transaction; each test runs in a savepoint (pytest-django's
# `db`) and gets a deep copy of the objects, like Django's setUpTestData.
@pytest.fixture(scope="module")
def _module_scene(django_db_setup, django_db_blocker):
    with django_db_blocker.unblock():
        outer = transaction.atomic()
        outer.__enter__()
        built = build_scene()
    yield built
    with django_db_blocker.unblock():
        transaction.set_rollback(True)
        outer.__exit__(None, None, None)


@pytest.fixture
def scene(_module_scene, db):
    return copy.deepcopy(_module_scene)


def actor_of(world, role: str):
    return AnonymousUser() if role == "anonymous" else getattr(world, f"{role}_user")


def snapshot() -> dict[str, list[dict]]:
    models = (SessionReservation, IndividualBooking, GroupSession, IdempotencyKey)
    return {m.__name__: list(m.objects.order_by("pk").values()) for m in models}


def run(scene, column: str, actor):
    """Run one column's operation; return a check that its effect is in the database."""
    w, now = scene.world, scene.now
    players = {"Mia": w.player, "Leo": w.child, "Kai": w.other_child, "B>A": w.foreign_player}
    kind, _, who = column.partition(":")
    if kind == "rsv":
        player = w.foreign_player if who.startswith("B") else players[who]
        session = scene.target_b if who == "B>B" else scene.target
        r = reservation_create(player=player, session=session, actor=actor, now=now)
        return lambda: (
            SessionReservation.objects.get(pk=r.pk, player=player, session=session).is_active
            and GroupSession.objects.get(pk=session.pk).reserved_count == 1
        )
    if kind == "can":
        r = reservation_cancel(reservation=scene.rows[f"res:{who}"], actor=actor, now=now)
        return lambda: (
            SessionReservation.objects.get(pk=r.pk).cancelled_by_id == actor.pk
            and GroupSession.objects.get(pk=w.session.pk).reserved_count == 1
        )
    if kind == "bk":
        b = individual_booking_create(
            player=players[who],
            coach=w.coach,
            session_type=w.lesson_type,
            starts_at=scene.slot,
            actor=actor,
            now=now,
        )
        return lambda: IndividualBooking.objects.get(pk=b.pk, player=players[who]).is_active
    if kind == "lcan":
        b = individual_booking_cancel(booking=scene.rows[f"les:{who}"], actor=actor, now=now)
        return lambda: IndividualBooking.objects.get(pk=b.pk).cancelled_by_id == actor.pk
    if kind == "grp":
        group_session_cancel(session=w.session, actor=actor, now=now)
        return lambda: (
            GroupSession.objects.get(pk=w.session.pk).is_cancelled
            and not SessionReservation.objects.filter(session=w.session, status="reserved")
        )
    raise AssertionError(column)


@pytest.mark.parametrize("role, column, expected", cells(OPERATIONS))
def test_operation_matrix(scene, role, column, expected):
    actor = actor_of(scene.world, role)
    if expected == "ok":
        took_effect = run(scene, column, actor)
        assert took_effect()
        return
    before = snapshot()
    with pytest.raises(BookingError) as info:
        run(scene, column, actor)
    assert info.value.code == {"NA": "not_allowed", "WA": "wrong_academy"}[expected]
    assert snapshot() == before


LETTERS = [("R", Action.READ), ("C", Action.CREATE), ("U", Action.UPDATE), ("D", Action.DELETE)]


@pytest.mark.parametrize("role", ROLES)
def test_permission_matrix(scene, role):
    """One role's whole row at once (a failure shows every differing cell)."""
    principal = Principal.load(actor_of(scene.world, role))

    actual = {
        column: "".join(
            letter for letter, action in LETTERS if can(principal, action, scene.rows[column])
        )
        or "-"
        for column in PERMISSIONS[role]
    }

    assert actual == PERMISSIONS[role]


# -- the edges of "who you are" ------------------------------------------------------------------


def test_an_inactive_user_is_anonymous(scene):
    w = scene.world
    w.staff_user.is_active = False
    w.staff_user.save()

    principal = Principal.load(w.staff_user)

    assert not principal.is_authenticated
    assert not can(principal, Action.READ, w.session)
    assert not any(can(principal, Action.READ, row) for row in scene.rows.values())
    with pytest.raises(BookingError) as info:
        reservation_create(player=w.player, session=scene.target, actor=w.staff_user, now=scene.now)
    assert info.value.code == "not_allowed"


def test_an_inactive_coach_loses_the_coach_role(scene):
    w = scene.world
    Coach.objects.filter(pk=w.coach.pk).update(is_active=False)
    principal = Principal.load(w.coach_user)

    assert not can(principal, Action.UPDATE, w.session)
    assert not can(principal, Action.READ, scene.rows["res:Mia"])
    assert not can(principal, Action.READ, scene.rows["res:Leo"])
    with pytest.raises(BookingError) as info:
        group_session_cancel(session=w.session, actor=w.coach_user, now=scene.now)
    assert info.value.code == "not_allowed"


def test_a_staff_member_of_two_academies_manages_both(scene):
    from scheduling.models import StaffMember

    w = scene.world
    StaffMember.objects.create(academy=w.other_academy, user=w.staff_user)
    principal = Principal.load(w.staff_user)

    assert can(principal, Action.DELETE, scene.rows["res:B"])
    for name in ("res:Mia", "res:Leo", "res:Kai", "res:B"):
        assert can(principal, Action.DELETE, scene.rows[name]), name
    # Managing both academies still does not put B's player into A's session.
    with pytest.raises(BookingError) as info:
        reservation_create(
            player=w.foreign_player, session=scene.target, actor=w.staff_user, now=scene.now
        )
    assert info.value.code == "wrong_academy"


# == 3. can() on check-in, ratings, goals and the activity log (issue 12) ==========================
#
#   att:Mia  Mia's check-in in coach's session      att:Les  Leo's check-in at his lesson (coach2)
#   fb:Leo   the rating of Leo's check-in (coach's session)
#   gl:Leo   coach's goal for Leo                   gl:Kai   coach2's goal for Kai
#   log:Leo  the log line of Leo's booking (coach's session)
#   log:Les  the log line of Leo's lesson (coach2)  log:B    a line of B's coach's session

COACHING = parse("""
role            att:Mia att:Les fb:Leo gl:Leo gl:Kai log:Leo log:Les log:B
player          R       -       -      -      -      -       -       -
parent          -       R       RCU    R      -      -       -       -
other_parent    -       -       -      -      R      -       -       -
coach           RCU     -       R      RCUD   -      R       -       -
coach2          -       RCU     -      -      RCUD   -       R       -
staff           RCUD    RCUD    RD     RCUD   RCUD   R       R       -
admin           RCUD    RCUD    RCUD   RCUD   RCUD   RCUD    RCUD    RCUD
anonymous       -       -       -      -      -      -       -       -
foreign_staff   -       -       -      -      -      -       -       R
foreign_coach   -       -       -      -      -      -       -       R
foreign_player  -       -       -      -      -      -       -       -
foreign_parent  -       -       -      -      -      -       -       -
""")


def coaching_rows(scene) -> dict:
    from bookings.models import Activity, Attendance, Feedback, Goal

    w, rows = scene.world, scene.rows
    now = scene.now
    leo = Attendance.objects.create(
        player=w.child,
        session=w.session,
        reservation=rows["res:Leo"],
        status="present",
        marked_at=now,
    )
    return {
        "att:Mia": Attendance.objects.create(
            player=w.player,
            session=w.session,
            reservation=rows["res:Mia"],
            status="late",
            marked_at=now,
        ),
        "att:Les": Attendance.objects.create(
            player=w.child, lesson=rows["les:Leo"], status="present", marked_at=now
        ),
        "fb:Leo": Feedback.objects.create(attendance=leo, rating=4, author=w.parent_user),
        "gl:Leo": Goal.objects.create(academy=w.academy, coach=w.coach, player=w.child, title="A"),
        "gl:Kai": Goal.objects.create(
            academy=w.academy, coach=w.coach2, player=w.other_child, title="B"
        ),
        "log:Leo": Activity.objects.create(
            academy=w.academy, verb="booked", at=now, player=w.child, session=w.session
        ),
        "log:Les": Activity.objects.create(
            academy=w.academy, verb="booked", at=now, player=w.child, lesson=rows["les:Leo"]
        ),
        "log:B": Activity.objects.create(
            academy=w.other_academy, verb="booked", at=now, session=w.foreign_session
        ),
    }


@pytest.mark.parametrize("role", ROLES)
def test_coaching_permission_matrix(scene, role):
    principal = Principal.load(actor_of(scene.world, role))
    rows = coaching_rows(scene)
    actual = {
        column: "".join(
            letter for letter, action in LETTERS if can(principal, action, rows[column])
        )
        or "-"
        for column in COACHING[role]
    }
    assert actual == COACHING[role]
