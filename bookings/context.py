"""Who is looking, as which role, in which academy: one place for every page."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from django.utils import timezone

from bookings import selectors
from bookings.access import Principal, Role, principal_for
from scheduling.models import Academy

ROLE_HOMES = {
    Role.PLAYER: "player_home",
    Role.PARENT: "parent_home",
    Role.COACH: "coach_dashboard",
    Role.STAFF: "staff_home",
}
ROLE_LINKS = {
    Role.PLAYER: [("player_home", "My sessions"), ("player_schedule", "Book")],
    Role.PARENT: [("parent_home", "My family"), ("parent_schedule", "Book")],
    Role.COACH: [
        ("coach_dashboard", "Dashboard"),
        ("coach_home", "My day"),
        ("coach_schedule", "Calendar"),
        ("coach_sessions", "Sessions"),
        ("my_hours", "My hours"),
        ("announce", "Message"),
    ],
    Role.STAFF: [
        ("staff_home", "Front desk"),
        ("staff_calendar", "Calendar"),
        ("staff_sessions", "Sessions"),
        ("staff_coaches", "Coaches"),
        ("announce", "Message"),
        ("live_metrics", "Live metrics"),
    ],
}


@dataclass(frozen=True)
class Viewer:
    principal: Principal
    academy: Academy
    roles: list[Role]  # the roles with pages held in this academy (Principal.page_roles)
    role: Role | None


def academies_of(principal: Principal) -> list[Academy]:
    if principal.is_admin:
        return list(Academy.objects.order_by("name"))
    return list(Academy.objects.filter(pk__in=principal.member_academy_ids).order_by("name"))


_VIEWER = "_courtside_viewer"  # where a request keeps its viewer


def forget_viewer(request: HttpRequest) -> None:
    """After switching academy or role: the next viewer_for reads them again."""
    request.__dict__.pop(_VIEWER, None)


def viewer_for(request: HttpRequest, role: Role | None = None) -> Viewer:
    """The viewer of this request; with a role, refuses (403) a user who doesn't hold it here."""
    cached: Viewer | None = getattr(request, _VIEWER, None)
    if cached is None:
        principal = principal_for(request)
        academies = academies_of(principal)
        if not academies:
            raise PermissionDenied("You are not a member of any academy.")
        chosen = request.session.get("academy_id")
        academy = next((a for a in academies if a.pk == chosen), academies[0])
        cached = Viewer(principal, academy, principal.page_roles(academy.pk), None)
        timezone.activate(academy.tz)  # pages show the academy's local time
        setattr(request, _VIEWER, cached)
    if role is not None:
        if role not in cached.roles:
            raise PermissionDenied(f"This page is for the {role} role.")
        if request.session.get("role") != role:  # unchanged: no session write on every page
            request.session["role"] = str(role)
        return Viewer(cached.principal, cached.academy, cached.roles, role)
    return cached


def home_url_for(viewer: Viewer, preferred: str | None = None) -> str:
    if not viewer.roles:
        return reverse("admin:index")
    role = next((r for r in viewer.roles if r == preferred), viewer.roles[0])
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
    roles = viewer.roles
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
        for role in viewer.principal.page_roles(academy.pk):
            options.append(
                {
                    "value": f"{academy.pk}:{role}",
                    "label": f"{role.capitalize()} · {academy.name}",
                    "current": academy.pk == viewer.academy.pk and role == active,
                }
            )
    return {
        "nav": {
            "unread": selectors.unread_count(user.pk),
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


def academy_timezone_middleware(
    get_response: Callable[[HttpRequest], HttpResponse],
) -> Callable[[HttpRequest], HttpResponse]:
    """Forget the academy time zone a page activated, so it never leaks into the next request."""

    def middleware(request: HttpRequest) -> HttpResponse:
        try:
            return get_response(request)
        finally:
            timezone.deactivate()

    return middleware
