"""Live fragments: how an app declares a piece of page that follows the database.

A kind of fragment is a frozen dataclass whose fields are its stream key's parameters, declared
with its name and template:

    @dataclass(frozen=True)
    class DayGrid(LiveFragment, name="day", template="fragments/slots.html#day"):
        academy: int
        day: date

        def load(self): ...                       # the rows it shows, or None: no such thing
        def allowed(self, viewer, rows): ...      # may this viewer read it (the access rules)
        def affected_by(self, change): ...        # may this change alter it (no queries)
        def context(self, rows): ...              # the template's context

`DayGrid(academy=3, day=d).key` is its stream key (realtime.streams), and `resolve(key)` gives
it back with its rows. A fragment renders from its key alone, never from a request, so one
render serves every viewer of its stream; pages render their fragments through here too, so
the HTML a page loads with and the HTML a push brings come from the same template.

What a change is belongs to the app that routes it (see realtime.events); the engine only hands
it to `affected_by`, `update` and `personal_for`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from datetime import tzinfo
from functools import lru_cache
from typing import Any, ClassVar, Self, get_type_hints

from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.html import format_html
from django.utils.safestring import SafeString, mark_safe

from realtime import streams

KINDS: dict[str, type[LiveFragment]] = {}


@dataclasses.dataclass(frozen=True)
class Presence:
    """How one viewer takes part in a fragment's presence (realtime.presence): as whom they are
    shown to others, and whether they see the others' names or only how many they are."""

    name: str
    role: str
    sees_names: bool
    place: str  # what everyone is looking at, for the page's line: "Thursday 3 December"


class LiveFragment:
    """The base of every fragment kind (subclasses are frozen dataclasses)."""

    __dataclass_fields__: ClassVar[dict[str, dataclasses.Field[Any]]]  # every kind is a dataclass
    name: ClassVar[str]
    template: ClassVar[str]
    # Personal: one user's or family's (looked up by name per change, see personal_for).
    # Shared: the same for everyone allowed to read it (scanned per change).
    personal: ClassVar[bool] = False
    # Which of a change's streams is rendered first (lower first; personal kinds all go before
    # shared ones): rendering is the slow part of a push, one stream after another, so this
    # decides who waits.
    order: ClassVar[int] = 50
    # May its viewers say "I am booking this item" to the others (realtime.holds)?
    holds: ClassVar[bool] = False
    # Seconds between pushes on a clock (realtime.periodic), while someone watches; 0: pushed
    # only when a change affects it.
    every: ClassVar[float] = 0.0

    def __init_subclass__(
        cls,
        *,
        name: str | None = None,
        template: str = "",
        personal: bool = False,
        order: int = 50,
        **kwargs: Any,
    ) -> None:
        """A class with a name is a kind; one without is a base that kinds share code through."""
        super().__init_subclass__(**kwargs)
        if name is None:
            return
        streams.declare(name, personal=personal)
        cls.name, cls.template, cls.personal, cls.order = name, template, personal, order
        KINDS[name] = cls

    # -- what a kind declares --

    def load(self) -> Any:
        """The rows this fragment shows (passed to the methods below), or None if it names
        nothing (a deleted coach, a date out of range)."""
        raise NotImplementedError

    def allowed(self, viewer: Any, rows: Any) -> bool:
        raise NotImplementedError

    def affected_by(self, change: Any) -> bool:
        """May this change alter the fragment? From the key and the change alone, no queries:
        it is asked for every watched stream."""
        raise NotImplementedError

    def context(self, rows: Any) -> dict[str, Any]:
        raise NotImplementedError

    def update(self, rows: Any, change: Any) -> str | None:
        """The out-of-band pieces a change touched (say one card of a week), or None to push
        the whole fragment."""
        return None

    def time_zone(self, rows: Any) -> tzinfo | None:
        """The zone times render in, whoever renders (a request or a push); None: the default."""
        return None

    def presence(self, viewer: Any, rows: Any) -> Presence | None:
        """Who else is looking: how this viewer is shown and what they see (None: no presence
        on this kind). Asked once, when the viewer's socket connects."""
        return None

    @classmethod
    def personal_for(cls, change: Any) -> Iterable[Self]:
        """Personal kinds: the fragments of this kind a change touches, by name."""
        return ()

    @classmethod
    def prepare(cls, fragments: list[Self]) -> None:
        """Before one publisher pass renders these fragments of this kind: read at once what
        their renders need (into realtime.render_pass.once), instead of once per fragment."""

    # -- what the engine provides --

    @property
    def key(self) -> str:
        return streams.build(self.name, dataclasses.astuple(self))

    @classmethod
    def parse(cls, parts: list[str]) -> Self | None:
        values = streams.decode(_field_types(cls), parts)
        return None if values is None else cls(*values)


@dataclasses.dataclass(frozen=True)
class Resolved:
    """A fragment with the rows it shows: ready to check and to render."""

    fragment: LiveFragment
    rows: Any

    @property
    def key(self) -> str:
        return self.fragment.key

    def allowed(self, viewer: Any) -> bool:
        return viewer is not None and self.fragment.allowed(viewer, self.rows)

    def render(self, *, oob: bool = False) -> SafeString:
        with timezone.override(self.fragment.time_zone(self.rows)):
            inner = render_to_string(self.fragment.template, self.fragment.context(self.rows))
        return format_html(
            '<div id="{}" class="live-fragment" data-live="{}"{}>{}</div>',
            streams.dom_id(self.key),
            self.key,
            mark_safe(' hx-swap-oob="outerHTML"') if oob else "",
            mark_safe(inner),
        )

    def render_change(self, change: Any) -> str:
        """What to push for a change: the touched pieces if the kind can tell, else all of it."""
        if change is not None:
            with timezone.override(self.fragment.time_zone(self.rows)):
                pieces = self.fragment.update(self.rows, change)
            if pieces is not None:
                return pieces
        return self.render(oob=True)


@lru_cache(maxsize=20_000)
def parse(key: str) -> LiveFragment | None:
    """The fragment a key names (not yet loaded), or None for a malformed or unknown key.
    Fragments are immutable, so a parsed key is kept: the publisher parses every watched key."""
    split = streams.split(key)
    if split is None:
        return None
    kind = KINDS.get(split[0])
    return None if kind is None else kind.parse(split[1])


def resolve(key: str) -> Resolved | None:
    """The fragment a key names with its rows, or None if it names nothing."""
    fragment = parse(key) if isinstance(key, str) else None
    if fragment is None:
        return None
    rows = fragment.load()
    return None if rows is None else Resolved(fragment, rows)


def resolve_allowed(keys: Iterable[str], viewer: Any) -> list[Resolved]:
    """The fragments among keys that this viewer may read (the rest are dropped)."""
    found = []
    for key in dict.fromkeys(keys):
        resolved = resolve(key)
        if resolved is not None and resolved.allowed(viewer):
            found.append(resolved)
    return found


def push_order(key: str) -> tuple[bool, int, str]:
    """Personal streams first (one user's or family's, small and cheap to render), then the
    shared ones by their kind's order."""
    fragment = parse(key)
    if fragment is None:
        return True, 99, key
    return not fragment.personal, fragment.order, key


def personal_kinds() -> list[type[LiveFragment]]:
    return [kind for kind in KINDS.values() if kind.personal]


_field_types_of: dict[type[LiveFragment], tuple[Any, ...]] = {}


def _field_types(cls: type[LiveFragment]) -> tuple[Any, ...]:
    """The types of a kind's key parameters, in order (read once per kind)."""
    if cls not in _field_types_of:
        hints = get_type_hints(cls)
        fields = dataclasses.fields(cls)
        _field_types_of[cls] = tuple(hints[field.name] for field in fields)
    return _field_types_of[cls]
