"""Who is looking, as which role, in which academy: one place for every page."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.core.exceptions import PermissionDenied
from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone

from bookings.access import Principal, Role, principal_for
from scheduling.models import Academy

ROLE_HOMES = {
    Role.PLAYER: "player_home",
    Role.PARENT: "parent_home",
    Role.COACH: "coach_home",
    Role.STAFF: "staff_home",
}
ROLE_LINKS = {
    Role.PLAYER: [("player_home", "My sessions"), ("player_schedule", "Book")],
    Role.PARENT: [("parent_home", "My family"), ("parent_schedule", "Book")],
    Role.COACH: [("coach_home", "My day"), ("coach_schedule", "Calendar")],
    Role.STAFF: [("staff_home", "Front desk"), ("staff_calendar", "Calendar")],
}


@dataclass(frozen=True)
class Viewer:
    principal: Principal
    academy: Academy
    roles: list[Role]
    role: Role | None


def academies_of(principal: Principal) -> list[Academy]:
    if principal.is_admin:
        return list(Academy.objects.order_by("name"))
    return list(Academy.objects.filter(pk__in=principal.member_academy_ids).order_by("name"))


def viewer_for(request: HttpRequest, role: Role | None = None) -> Viewer:
    """The viewer of this request; with a role, refuses (403) a user who doesn't hold it here."""
    cached = getattr(request, "_courtside_viewer", None)
    if cached is None:
        principal = principal_for(request)
        academies = academies_of(principal)
        if not academies:
            raise PermissionDenied("You are not a member of any academy.")
        chosen = request.session.get("academy_id")
        academy = next((a for a in academies if a.pk == chosen), academies[0])
        roles = principal.roles(academy.pk)
        cached = Viewer(principal, academy, roles, None)
        timezone.activate(academy.tz)  # pages show the academy's local time
        request._courtside_viewer = cached  # type: ignore[attr-defined]
    if role is not None:
        if role not in cached.roles and not (role == Role.STAFF and Role.ADMIN in cached.roles):
            raise PermissionDenied(f"This page is for the {role} role.")
        if request.session.get("role") != role:  # unchanged: no session write on every page
            request.session["role"] = str(role)
        return Viewer(cached.principal, cached.academy, cached.roles, role)
    return cached


def home_url_for(viewer: Viewer, preferred: str | None = None) -> str:
    page_roles = [r for r in viewer.roles if r in ROLE_HOMES]
    if Role.ADMIN in viewer.roles and Role.STAFF not in page_roles:
        page_roles.append(Role.STAFF)  # an admin runs the front desk of any academy
    if not page_roles:
        return reverse("admin:index")
    role = next((r for r in page_roles if r == preferred), page_roles[0])
    return reverse(ROLE_HOMES[role])


def nav(request: HttpRequest) -> dict[str, Any]:
    """Context processor: the menu of the current role and the role/academy switcher."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    try:
        viewer = viewer_for(request)
    except PermissionDenied:
        return {}
    current_role = request.session.get("role")
    roles = [r for r in viewer.roles if r in ROLE_LINKS]
    if Role.ADMIN in viewer.roles and Role.STAFF not in roles:
        roles.append(Role.STAFF)
    links = []
    active = next((r for r in roles if r == current_role), roles[0] if roles else None)
    path = request.path
    if active is not None:
        for name, label in ROLE_LINKS[active]:
            url = reverse(name)
            links.append({"url": url, "label": label, "current": path == url})
    if viewer.principal.is_admin or getattr(user, "is_staff", False):
        links.append({"url": reverse("admin:index"), "label": "Admin", "current": False})
    options = []
    for academy in academies_of(viewer.principal):
        academy_roles = [r for r in viewer.principal.roles(academy.pk) if r in ROLE_LINKS]
        if viewer.principal.is_admin and Role.STAFF not in academy_roles:
            academy_roles.append(Role.STAFF)
        for role in academy_roles:
            options.append(
                {
                    "value": f"{academy.pk}:{role}",
                    "label": f"{role.capitalize()} · {academy.name}",
                    "current": academy.pk == viewer.academy.pk and role == active,
                }
            )
    return {
        "nav": {
            "links": links,
            "roles": roles,
            "academies": {str(o["value"]).split(":")[0] for o in options},
            "switch_options": options,
        }
    }


def site(request: HttpRequest) -> dict[str, Any]:
    """Context processor: settings a template may show (the demo logins hint)."""
    from django.conf import settings

    return {"demo_mode": settings.DEMO_MODE}


def academy_timezone_middleware(get_response):  # type: ignore[no-untyped-def]
    """Forget the academy time zone a page activated, so it never leaks into the next request."""

    def middleware(request: HttpRequest):  # type: ignore[no-untyped-def]
        try:
            return get_response(request)
        finally:
            timezone.deactivate()

    return middleware
