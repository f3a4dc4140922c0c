"""Who may read, create, update or delete what: Courtside's row-level security.

Seed 003's policies as one module. Every view, every service and every live stream asks it, so
the same rules hold for HTTP, the admin actions and WebSockets.

- players: their own rows;
- parents: their linked children's rows;
- coaches: their sessions and lessons, the attendees of those (their check-in, their ratings
  and comments), and the goals they set, in their academy;
- staff: everything in their academy;
- admins (superusers): everything;
- anyone else, including another academy's users: nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from django.contrib.auth.models import AnonymousUser
from django.db import connection

from bookings.models import (
    Activity,
    Attendance,
    Feedback,
    Goal,
    GuardianLink,
    IndividualBooking,
    Player,
    SessionReservation,
)
from scheduling.models import (
    Academy,
    Coach,
    CoachAvailability,
    CoachTimeOff,
    Court,
    GroupSession,
    SessionType,
    StaffAssignment,
    StaffMember,
)


class Action(StrEnum):
    READ = "read"
    CREATE = "create"
    UPDATE = "update"
    DELETE = "delete"


class Role(StrEnum):
    PLAYER = "player"
    PARENT = "parent"
    COACH = "coach"
    STAFF = "staff"
    ADMIN = "admin"


@dataclass(frozen=True)
class Principal:
    """What one user is, loaded once (one query) and then asked without queries."""

    user_id: int | None
    is_admin: bool
    staff_academy_ids: frozenset[int]
    coach_academy_by_id: dict[int, int]  # the user's Coach rows: coach id -> academy id
    own_player_academy_by_id: dict[int, int]  # the user's own Player rows
    child_academy_by_id: dict[int, int]  # the user's linked children
    name: str = ""  # how others see them (presence, announcements)

    @classmethod
    def load(cls, user: Any) -> Principal:
        if user is None or isinstance(user, AnonymousUser) or not user.is_authenticated:
            return ANONYMOUS
        if not user.is_active:
            return ANONYMOUS
        by_kind: dict[str, dict[int, int]] = {"staff": {}, "coach": {}, "player": {}, "child": {}}
        with connection.cursor() as cursor:
            cursor.execute(_PRINCIPAL_SQL, [user.pk, user.pk, True, user.pk, user.pk])
            for kind, row_id, academy_id in cursor.fetchall():
                by_kind[kind][row_id] = academy_id
        return cls(
            user_id=user.pk,
            is_admin=user.is_superuser,
            staff_academy_ids=frozenset(by_kind["staff"].values()),
            coach_academy_by_id=by_kind["coach"],
            own_player_academy_by_id=by_kind["player"],
            child_academy_by_id=by_kind["child"],
            name=user.get_full_name() or user.get_username(),
        )

    @property
    def is_authenticated(self) -> bool:
        return self.user_id is not None

    @property
    def member_academy_ids(self) -> frozenset[int]:
        return (
            self.staff_academy_ids
            | frozenset(self.coach_academy_by_id.values())
            | frozenset(self.own_player_academy_by_id.values())
            | frozenset(self.child_academy_by_id.values())
        )

    def roles(self, academy_id: int) -> list[Role]:
        """The roles held in one academy, in menu order."""
        roles = []
        if academy_id in self.own_player_academy_by_id.values():
            roles.append(Role.PLAYER)
        if academy_id in self.child_academy_by_id.values():
            roles.append(Role.PARENT)
        if academy_id in self.coach_academy_by_id.values():
            roles.append(Role.COACH)
        if academy_id in self.staff_academy_ids:
            roles.append(Role.STAFF)
        if self.is_admin:
            roles.append(Role.ADMIN)
        return roles

    def page_roles(self, academy_id: int) -> list[Role]:
        """The roles with pages (player, parent, coach, staff) held in one academy. An admin runs
        the front desk of any academy, so for pages an admin is staff everywhere."""
        roles: list[Role] = [r for r in self.roles(academy_id) if r != Role.ADMIN]
        if self.is_admin and Role.STAFF not in roles:
            roles.append(Role.STAFF)
        return roles

    def manages(self, academy_id: int) -> bool:
        """Staff of the academy, or an admin."""
        return self.is_admin or academy_id in self.staff_academy_ids

    def is_member(self, academy_id: int) -> bool:
        return self.is_admin or academy_id in self.member_academy_ids

    def acts_for(self, player_id: int) -> bool:
        """The player themself or a guardian (not staff: see may_book_for)."""
        return player_id in self.own_player_academy_by_id or player_id in self.child_academy_by_id

    def coach_ids_in(self, academy_id: int) -> frozenset[int]:
        return frozenset(c for c, a in self.coach_academy_by_id.items() if a == academy_id)

    @property
    def family_player_ids(self) -> frozenset[int]:
        return frozenset(self.own_player_academy_by_id) | frozenset(self.child_academy_by_id)


ANONYMOUS = Principal(None, False, frozenset(), {}, {}, {})

# Everything Principal.load needs, in one round trip: rows of (kind, id, academy id). Every page
# and every booking starts here, so it is plain SQL: the ORM's compilation of the same UNION ALL
# took about ten times the CPU of the query itself (~1.1 ms of ~1.2 ms per call). Read fresh on
# every call: nothing the access rules depend on is cached.
_PRINCIPAL_SQL = f"""
    SELECT 'staff', id, academy_id FROM {StaffMember._meta.db_table} WHERE user_id = %s
    UNION ALL
    SELECT 'coach', id, academy_id FROM {Coach._meta.db_table} WHERE user_id = %s AND is_active = %s
    UNION ALL
    SELECT 'player', id, academy_id FROM {Player._meta.db_table} WHERE user_id = %s
    UNION ALL
    SELECT 'child', link.player_id, player.academy_id
    FROM {GuardianLink._meta.db_table} link
    JOIN {Player._meta.db_table} player ON player.id = link.player_id
    WHERE link.guardian_id = %s
"""


def live_viewer(request_or_user: Any) -> Principal | None:
    """The live engine's viewer (settings.LIVE_VIEWER): the principal, or None for nobody."""
    principal = principal_for(request_or_user)
    return principal if principal.is_authenticated else None


def principal_for(request_or_user: Any) -> Principal:
    """The principal of a request (cached on it for the request's life) or of a user (fresh)."""
    user = getattr(request_or_user, "user", request_or_user)
    if hasattr(request_or_user, "user"):
        cached = getattr(request_or_user, "_courtside_principal", None)
        if cached is None:
            cached = Principal.load(user)
            request_or_user._courtside_principal = cached
        return cached
    return Principal.load(user)


# -- rules per kind of row -----------------------------------------------------------------------


def may_book_for(p: Principal, player: Player) -> bool:
    """Create reservations and lessons for this player: self, guardian, staff, admin."""
    return p.acts_for(player.pk) or p.manages(player.academy_id)


def reads_player_lists(p: Principal, player: Player) -> bool:
    """A player's own lists: the player, their guardians, staff (not coaches: they see their
    attendees on their calendars)."""
    return p.acts_for(player.pk) or p.manages(player.academy_id)


def reads_family_lists(p: Principal, guardian_user_id: int) -> bool:
    """A family's lists (every child of one parent): that parent only."""
    return p.user_id == guardian_user_id


def reads_academy_grids(p: Principal, academy_id: int) -> bool:
    """The day's group sessions and lesson slots, which carry no names: every member."""
    return p.is_member(academy_id)


def reads_coach_calendar(p: Principal, coach: Coach) -> bool:
    """A coach's day and calendar (names on their own sessions): that coach, staff."""
    return coach.pk in p.coach_academy_by_id or p.manages(coach.academy_id)


def reads_staff_calendar(p: Principal, academy_id: int) -> bool:
    """The academy's calendar with every attendee: staff and admins."""
    return p.manages(academy_id)


def reads_calendar_details(p: Principal, academy_id: int) -> bool:
    """A session's or lesson's details view (time, place, occupancy, check-in counts): every
    member of its academy (what the grids already show them); names: see the two rules below."""
    return p.is_member(academy_id)


def sees_session_names(p: Principal, session: GroupSession) -> bool:
    """Who is booked on a session, by name: staff, admins, the session's own coaches."""
    return p.manages(session.academy_id) or coaches_session(p, session)


def sees_lesson_name(p: Principal, lesson: IndividualBooking) -> bool:
    """Whose lesson it is: staff, admins, the lesson's coach, the player and their guardians."""
    return marks_lesson(p, lesson) or p.acts_for(lesson.player_id)


def may_subscribe(p: Principal, scope: str, coach_id: int | None) -> bool:
    """A calendar feed (bookings.feeds), when made and on every fetch: of one's own bookings (a
    player), of one's children's (a parent), of one's own coaching (that coach, while active)."""
    if scope == "mine":
        return bool(p.own_player_academy_by_id)
    if scope == "family":
        return bool(p.child_academy_by_id)
    if scope == "coach":
        return coach_id is not None and coach_id in p.coach_academy_by_id
    return False


def sees_presence_names(p: Principal, academy_id: int) -> bool:
    """Who else is looking, by name and role: staff and coaches of the academy. Families see
    only how many others are looking, never another family's name."""
    return p.manages(academy_id) or bool(p.coach_ids_in(academy_id))


def presence_role(p: Principal, academy_id: int) -> str:
    """How a viewer's role reads next to their name on others' pages."""
    if academy_id in p.staff_academy_ids:
        return "front desk"
    if p.coach_ids_in(academy_id):
        return "coach"
    if p.is_admin:
        return "admin"
    if academy_id in p.child_academy_by_id.values():
        return "parent"
    return "player"


def reads_own_inbox(p: Principal, user_id: int) -> bool:
    """An inbox is its owner's alone."""
    return p.user_id == user_id


def may_announce(p: Principal, academy_id: int, session: GroupSession | None) -> bool:
    """Send an announcement: staff to a session, a day or the whole academy; a coach only to
    the people of a session they coach."""
    if p.manages(academy_id):
        return True
    return session is not None and session.academy_id == academy_id and coaches_session(p, session)


def reads_coach_dashboard(p: Principal, coach: Coach) -> bool:
    """A coach's dashboard (their attendees, ratings and comments, their players' goals): that
    coach, staff of the academy."""
    return coach.pk in p.coach_academy_by_id or p.manages(coach.academy_id)


def reads_front_desk(p: Principal, academy_id: int) -> bool:
    """The academy's day at the front desk and its recent changes (every name): staff."""
    return p.manages(academy_id)


def reads_live_metrics(p: Principal) -> bool:
    """The live path's own figures (the metrics page, its stream, /metrics): staff of any
    academy, admins. They are the service's, not an academy's: counts, rates and latencies of
    the whole deployment, no names, no academy, no stream beyond its kind."""
    return p.is_admin or bool(p.staff_academy_ids)


def reads_family_goals(p: Principal, player: Player) -> bool:
    """A player's goals: the player, their guardians, staff (their coaches see the goals they
    set on their own dashboard)."""
    return p.acts_for(player.pk) or p.manages(player.academy_id)


def marks_session(p: Principal, session: GroupSession) -> bool:
    """Check attendees of a group session in (and add walk-ins): its coaches, staff."""
    return p.manages(session.academy_id) or coaches_session(p, session)


def marks_lesson(p: Principal, lesson: IndividualBooking) -> bool:
    return p.manages(lesson.academy_id) or lesson.coach_id in p.coach_ids_in(lesson.academy_id)


def adds_walk_in(p: Principal, session: GroupSession, player: Player) -> bool:
    """Add a player to a session on the spot: staff, any player of the academy; the session's
    coach, a player they teach (their attendees are who a coach may read)."""
    if player.academy_id != session.academy_id:
        return False
    if p.manages(session.academy_id):
        return True
    return coaches_session(p, session) and coaches_player(p, player)


def sets_goals(p: Principal, coach: Coach, player: Player) -> bool:
    """Set a goal of this coach's for this player: the coach, for a player they teach; staff."""
    if coach.academy_id != player.academy_id:
        return False
    if p.manages(coach.academy_id):
        return True
    return coach.pk in p.coach_ids_in(coach.academy_id) and coaches_player(p, player)


def edits_session(p: Principal, session: GroupSession) -> bool:
    """Open a session's edit form (and its live "stored now" panel): staff and admins, who
    change everything, and the session's own coaches, who change its notes."""
    return p.manages(session.academy_id) or coaches_session(p, session)


def edits_coach_hours(p: Principal, coach: Coach) -> bool:
    """Keep a coach's lesson hours and time off: the coach, staff, admins."""
    return p.manages(coach.academy_id) or coach.pk in p.coach_academy_by_id


def coaches_session(p: Principal, session: GroupSession) -> bool:
    mine = p.coach_ids_in(session.academy_id)
    if not mine:
        return False
    return StaffAssignment.objects.filter(session_id=session.pk, coach_id__in=mine).exists()


def coaches_player(p: Principal, player: Player) -> bool:
    """A coach reads the players who attend their sessions or lessons."""
    mine = p.coach_ids_in(player.academy_id)
    if not mine:
        return False
    return (
        SessionReservation.objects.filter(
            player_id=player.pk, session__assignments__coach_id__in=mine
        ).exists()
        or IndividualBooking.objects.filter(player_id=player.pk, coach_id__in=mine).exists()
    )


def _player_rule(p: Principal, action: Action, player: Player) -> bool:
    if action == Action.READ:
        return p.acts_for(player.pk) or p.manages(player.academy_id) or coaches_player(p, player)
    return p.manages(player.academy_id)


def _guardian_link_rule(p: Principal, action: Action, link: GuardianLink) -> bool:
    if action == Action.READ and link.guardian_id == p.user_id:
        return True
    return _player_rule(p, action if action == Action.READ else Action.UPDATE, link.player)


def _reservation_rule(p: Principal, action: Action, r: SessionReservation) -> bool:
    academy_id = r.session.academy_id
    if p.manages(academy_id):
        return True
    if action == Action.DELETE:
        return False  # reservations are cancelled, never deleted, except by staff and admins
    if action == Action.CREATE:
        return p.acts_for(r.player_id)
    # read and update (cancel): the family and the session's coaches
    return p.acts_for(r.player_id) or coaches_session(p, r.session)


def _booking_rule(p: Principal, action: Action, b: IndividualBooking) -> bool:
    if p.manages(b.academy_id):
        return True
    if action == Action.DELETE:
        return False
    if action == Action.CREATE:
        return p.acts_for(b.player_id)
    return p.acts_for(b.player_id) or b.coach_id in p.coach_ids_in(b.academy_id)


def _marks(p: Principal, a: Attendance) -> bool:
    if a.session is not None:
        return marks_session(p, a.session)
    assert a.lesson is not None  # one of the two (a check constraint)
    return marks_lesson(p, a.lesson)


def _attendance_rule(p: Principal, action: Action, a: Attendance) -> bool:
    marks = _marks(p, a)
    if action == Action.READ:
        return marks or p.acts_for(a.player_id)
    if action == Action.DELETE:
        return p.manages(a.player.academy_id)
    return marks


def _feedback_rule(p: Principal, action: Action, f: Feedback) -> bool:
    """The family writes it; the session's coaches and staff read it; staff may remove it."""
    attendance = f.attendance
    if action == Action.READ:
        return _attendance_rule(p, Action.READ, attendance)
    if action == Action.DELETE:
        return p.manages(attendance.player.academy_id)
    return p.acts_for(attendance.player_id)


def _goal_rule(p: Principal, action: Action, g: Goal) -> bool:
    own = g.coach_id in p.coach_ids_in(g.academy_id)
    if action == Action.READ:
        return own or reads_family_goals(p, g.player)
    if action == Action.CREATE:
        return sets_goals(p, g.coach, g.player)
    return own or p.manages(g.academy_id)


def _activity_rule(p: Principal, action: Action, row: Activity) -> bool:
    """Read at the front desk, and by the coach of the session or lesson; written by the
    services only."""
    if action != Action.READ:
        return False
    if p.manages(row.academy_id):
        return True
    if row.lesson is not None:
        return marks_lesson(p, row.lesson)
    return row.session is not None and coaches_session(p, row.session)


def _group_session_rule(p: Principal, action: Action, s: GroupSession) -> bool:
    if action == Action.READ:
        return p.is_member(s.academy_id)
    if p.manages(s.academy_id):
        return True
    # a coach may change (cancel) their own session, not create or delete sessions
    return action == Action.UPDATE and coaches_session(p, s)


def _coach_owned_rule(p: Principal, action: Action, row: CoachAvailability | CoachTimeOff) -> bool:
    academy_id = row.coach.academy_id
    if action == Action.READ:
        return p.is_member(academy_id)
    return p.manages(academy_id) or row.coach_id in p.coach_ids_in(academy_id)


def _academy_row_rule(p: Principal, action: Action, academy_id: int) -> bool:
    if action == Action.READ:
        return p.is_member(academy_id)
    return p.manages(academy_id)


def can(p: Principal, action: Action, obj: Any) -> bool:
    """May this principal do this action on this row?"""
    if not p.is_authenticated:
        return False
    if p.is_admin:
        return True
    match obj:
        case SessionReservation():
            return _reservation_rule(p, action, obj)
        case IndividualBooking():
            return _booking_rule(p, action, obj)
        case GroupSession():
            return _group_session_rule(p, action, obj)
        case Player():
            return _player_rule(p, action, obj)
        case GuardianLink():
            return _guardian_link_rule(p, action, obj)
        case Attendance():
            return _attendance_rule(p, action, obj)
        case Feedback():
            return _feedback_rule(p, action, obj)
        case Goal():
            return _goal_rule(p, action, obj)
        case Activity():
            return _activity_rule(p, action, obj)
        case CoachAvailability() | CoachTimeOff():
            return _coach_owned_rule(p, action, obj)
        case Coach() | Court() | SessionType():
            return _academy_row_rule(p, action, obj.academy_id)
        case StaffAssignment():
            return _academy_row_rule(p, action, obj.session.academy_id)
        case Academy():
            return _academy_row_rule(p, action, obj.pk)
    return False
