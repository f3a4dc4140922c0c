"""What an email says, decided when it is sent, from the database as it is then.

Each kind has a composer: given the queued row and the recipient's family (the players they act
for, now), it returns a Draft, or None when the email is no longer true (the reservation was
made again, the session was moved, the recipient is no longer that player's guardian): such a
row is skipped, not sent. `render` turns a draft into a message with a plain-text and an HTML
part, times in the academy's time zone, a link to the page where the thing can be seen, and
the unsubscribe link of the email's topic (also as List-Unsubscribe, for mail clients).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from email.utils import formataddr, parseaddr
from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from bookings.access import Principal
from bookings.emails.queue import TOPIC_OF, cause
from bookings.emails.unsubscribe import unsubscribe_url
from bookings.live.notes import actor_name
from bookings.models import (
    EmailTopic,
    IndividualBooking,
    OutgoingEmail,
    Player,
    SessionReservation,
    WaitlistEntry,
)
from config.security import local_path
from scheduling.models import Academy, GroupSession
from scheduling.times import day_and_time

Kind = OutgoingEmail.Kind


@dataclass(frozen=True)
class Draft:
    subject: str
    template: str  # templates/email/<template>.txt and .html
    academy: Academy
    context: dict[str, Any]


def when(moment: datetime, academy: Academy) -> str:
    """A start as subjects say it: "Tue 24 Nov, 10:00", in the academy's time zone."""
    return day_and_time(moment.astimezone(academy.tz))


def _join(words: Sequence[str]) -> str:
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]


def about(players: Sequence[Player], user_id: int) -> dict[str, Any]:
    """How an email names the players it is about, to one recipient: "you" for their own
    login, first names for their children ("you and Leo", "Leo's and Ada's")."""
    ordered = sorted(players, key=lambda p: p.user_id != user_id)  # "you" first
    own = [p.user_id == user_id for p in ordered]
    pairs = list(zip(ordered, own, strict=True))
    others = [p.first_name for p, mine in pairs if not mine]
    return {
        "who": _join(["you" if mine else p.first_name for p, mine in pairs]),
        "whose": _join(["your" if mine else f"{p.first_name}'s" for p, mine in pairs]),
        "are": "are" if len(ordered) > 1 or any(own) else "is",
        "many": len(ordered) > 1,
        "suffix": f" ({_join(others)})" if others else "",  # for the subject
    }


def _url(name: str, **query: Any) -> str:
    path = reverse(name)
    return settings.SITE_URL + path + (f"?{urlencode(query)}" if query else "")


def _is_own(players: Sequence[Player], user_id: int) -> bool:
    return any(p.user_id == user_id for p in players)


def _reservations_page(user_id: int, players: Sequence[Player]) -> str:
    """Where the family sees what is booked."""
    if _is_own(players, user_id):
        return _url("player_home", tab="reservations")
    if len(players) == 1:
        return _url("parent_home", tab="reservations", player=players[0].pk)
    return _url("parent_home", tab="reservations")


def _booking_page(
    user_id: int, players: Sequence[Player], moment: datetime, academy: Academy
) -> str:
    """Where the family books something else that day."""
    day = moment.astimezone(academy.tz).date().isoformat()
    if _is_own(players, user_id):
        return _url("player_schedule", date=day)
    return _url("parent_schedule", player=players[0].pk, date=day)


def _session_details(s: GroupSession) -> dict[str, Any]:
    return {
        "title": s.display_title,
        "starts_at": s.starts_at,
        "ends_at": s.ends_at,
        "place": s.court.name if s.court else "",
        "coaches": ", ".join(c.display_name for c in s.coaches.all()),
    }


def _lesson_details(b: IndividualBooking) -> dict[str, Any]:
    return {
        "title": b.session_type.name,
        "starts_at": b.starts_at,
        "ends_at": b.ends_at,
        "place": b.court.name if b.court else "",
        "coaches": b.coach.display_name,
    }


_RESERVATION = SessionReservation.objects.select_related(
    "player", "session__academy", "session__session_type", "session__court"
)
_LESSON = IndividualBooking.objects.select_related(
    "player", "academy", "coach", "session_type", "court"
)
_SESSION = GroupSession.objects.select_related("academy", "session_type", "court")
_ENTRY = WaitlistEntry.objects.select_related(
    "player", "session__academy", "session__session_type", "session__court"
)


# -- one composer per kind ------------------------------------------------------------------------


def _draft(
    template: str,
    headline: str,
    details: dict[str, Any],
    academy: Academy,
    players: Sequence[Player],
    row: OutgoingEmail,
    **extra: Any,
) -> Draft:
    """An email about these players' session or lesson, its subject "<headline>: <title>,
    <when> (<names>)" (no names when it is about the recipient alone)."""
    names = about(players, row.recipient_id)
    subject = f"{headline}: {details['title']}, {when(details['starts_at'], academy)}"
    return Draft(
        subject=subject + names["suffix"],
        template=template,
        academy=academy,
        context={**details, **names, **extra},
    )


def _reservation_cancelled(row: OutgoingEmail, family: frozenset[int]) -> Draft | None:
    r = _RESERVATION.filter(pk=row.about_id).first()
    if r is None or r.is_active or r.player_id not in family:
        return None
    if cause(r.pk, r.cancelled_at) != row.cause:  # made again (and maybe cancelled again) since
        return None
    s = r.session
    return _draft(
        "reservation_cancelled",
        "Cancelled",
        _session_details(s),
        s.academy,
        [r.player],
        row,
        by=actor_name(r.cancelled_by_id),
        link=_booking_page(row.recipient_id, [r.player], s.starts_at, s.academy),
    )


def _lesson_cancelled(row: OutgoingEmail, family: frozenset[int]) -> Draft | None:
    b = _LESSON.filter(pk=row.about_id).first()
    if b is None or b.is_active or b.player_id not in family:
        return None
    return _draft(
        "lesson_cancelled",
        "Cancelled",
        _lesson_details(b),
        b.academy,
        [b.player],
        row,
        by=actor_name(b.cancelled_by_id),
        link=_booking_page(row.recipient_id, [b.player], b.starts_at, b.academy),
    )


def _session_cancelled(row: OutgoingEmail, family: frozenset[int]) -> Draft | None:
    s = _SESSION.filter(pk=row.about_id).first()
    if s is None or not s.is_cancelled:
        return None
    theirs = list(
        s.reservations.filter(
            status=SessionReservation.Status.CANCELLED,
            cancelled_at=s.cancelled_at,
            player_id__in=family,
        ).select_related("player")
    )
    if not theirs:
        return None
    players = [r.player for r in theirs]
    return _draft(
        "session_cancelled",
        "Cancelled",
        _session_details(s),
        s.academy,
        players,
        row,
        by=actor_name(theirs[0].cancelled_by_id),
        link=_booking_page(row.recipient_id, players, s.starts_at, s.academy),
    )


def _waitlist_promotion(row: OutgoingEmail, family: frozenset[int]) -> Draft | None:
    r = _RESERVATION.filter(pk=row.about_id).first()
    if r is None or not r.is_active or r.player_id not in family or r.session.is_cancelled:
        return None
    s = r.session
    return _draft(
        "waitlist_promotion",
        "A place for you",
        _session_details(s),
        s.academy,
        [r.player],
        row,
        link=_reservations_page(row.recipient_id, [r.player]),
    )


def _waitlist_offer(row: OutgoingEmail, family: frozenset[int]) -> Draft | None:
    e = _ENTRY.filter(pk=row.about_id).first()
    if e is None or e.status != WaitlistEntry.Status.OFFERED or e.player_id not in family:
        return None  # taken, declined or lapsed meanwhile: no longer true
    if e.offered_until is None or cause(e.pk, e.offered_until) != row.cause:
        return None
    if e.offered_until <= timezone.now() or e.session.is_cancelled:
        return None
    s = e.session
    return _draft(
        "waitlist_offer",
        "A place is held for you",
        _session_details(s),
        s.academy,
        [e.player],
        row,
        until=e.offered_until,
        link=_reservations_page(row.recipient_id, [e.player]),
    )


def _session_reminder(row: OutgoingEmail, family: frozenset[int]) -> Draft | None:
    s = _SESSION.filter(pk=row.about_id).first()
    if s is None or s.is_cancelled or cause(s.pk, s.starts_at) != row.cause:
        return None
    players = [
        r.player
        for r in s.reservations.filter(
            status=SessionReservation.Status.RESERVED, player_id__in=family
        ).select_related("player")
    ]
    if not players:
        return None
    return _draft(
        "session_reminder",
        "Reminder",
        _session_details(s),
        s.academy,
        players,
        row,
        link=_reservations_page(row.recipient_id, players),
    )


def _lesson_reminder(row: OutgoingEmail, family: frozenset[int]) -> Draft | None:
    b = _LESSON.filter(pk=row.about_id).first()
    if b is None or not b.is_active or b.player_id not in family:
        return None
    if cause(b.pk, b.starts_at) != row.cause:
        return None
    return _draft(
        "lesson_reminder",
        "Reminder",
        _lesson_details(b),
        b.academy,
        [b.player],
        row,
        link=_reservations_page(row.recipient_id, [b.player]),
    )


def _announcement(row: OutgoingEmail, family: frozenset[int]) -> Draft | None:
    data = row.data
    academy = Academy.objects.filter(pk=data.get("academy")).first()
    if academy is None:
        return None
    path = local_path(data.get("link"), "")
    return Draft(
        subject=str(data.get("subject", ""))[:200] or f"News from {academy.name}",
        template="announcement",
        academy=academy,
        context={
            "text": str(data.get("text", "")),
            "link": settings.SITE_URL + path if path else "",
        },
    )


COMPOSERS: dict[str, Callable[[OutgoingEmail, frozenset[int]], Draft | None]] = {
    Kind.RESERVATION_CANCELLED: _reservation_cancelled,
    Kind.LESSON_CANCELLED: _lesson_cancelled,
    Kind.SESSION_CANCELLED: _session_cancelled,
    Kind.WAITLIST_PROMOTION: _waitlist_promotion,
    Kind.WAITLIST_OFFER: _waitlist_offer,
    Kind.SESSION_REMINDER: _session_reminder,
    Kind.LESSON_REMINDER: _lesson_reminder,
    Kind.ANNOUNCEMENT: _announcement,
}


def render(row: OutgoingEmail) -> EmailMultiAlternatives | None:
    """The message for a queued row (its recipient loaded), or None if it is not to be sent:
    the recipient has no address, is inactive, turned the topic off since, or the email is no
    longer true."""
    recipient = row.recipient
    topic = TOPIC_OF[OutgoingEmail.Kind(row.kind)]
    if not (recipient.is_active and recipient.email):
        return None
    if recipient.email_opt_outs.filter(topic=topic).exists():
        return None
    principal = Principal.load(recipient)
    draft = COMPOSERS[row.kind](row, principal.family_player_ids)
    if draft is None:
        return None
    if row.kind == Kind.ANNOUNCEMENT and not principal.is_member(draft.academy.pk):
        return None
    context = {
        **draft.context,
        "subject": draft.subject,
        "academy": draft.academy,
        "name": recipient.first_name or recipient.get_username(),
        "topic": EmailTopic(topic).label,
        "unsubscribe_url": unsubscribe_url(recipient.pk, topic),
        "settings_url": _url("account"),
    }
    with timezone.override(draft.academy.tz):
        text = render_to_string(f"email/{draft.template}.txt", context)
        html = render_to_string(f"email/{draft.template}.html", context)
    message = EmailMultiAlternatives(
        subject=" ".join(draft.subject.split()),  # never a header break
        body=text,
        from_email=formataddr((draft.academy.name, parseaddr(settings.DEFAULT_FROM_EMAIL)[1])),
        to=[formataddr((recipient.get_full_name(), recipient.email))],
        headers={
            "List-Unsubscribe": f"<{context['unsubscribe_url']}>",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
            "Auto-Submitted": "auto-generated",  # RFC 3834: no vacation replies, please
        },
    )
    message.attach_alternative(html, "text/html")
    return message
