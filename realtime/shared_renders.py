"""Renders of a stream at a sequence number, shared by the live pages that resync it.

After a worker dies its pages all reconnect at once and fetch the streams that moved while
they were away: the same few fragments (the day grid, the staff week of ~300 KB), hundreds of
times within a second. A render made after reading the stream's number shows at least every
change up to that number, and a fragment renders from its key alone (never from the request;
who may read it is checked per request before this), so every request that read the same
(epoch, stream, number) can be given the same HTML. One request renders; the others asking at
the same moment wait for it.

Only resyncs share renders: their pages hold a socket (or poll) and apply any push with a higher
number, so a render labelled with the number it was read at is always safe for them. A change
committed just before its publisher takes the next number may be missing from a shared render;
its push follows. Page loads render afresh, since after a plain form post the page must show
that post. Entries live a few seconds: a stream nobody watches keeps its number while its
content changes, and the short life bounds how stale a render of such a stream can be (its
readers poll, far less often than this).
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable

from django.utils.safestring import SafeString

TTL = 3.0  # seconds
MAX_ENTRIES = 256

_renders: OrderedDict[tuple[str, str, int, bool], tuple[float, SafeString]] = OrderedDict()
_lock = threading.Lock()
_rendering: dict[tuple[str, str, int, bool], threading.Lock] = {}


def shared_render(
    key: str, epoch: str, seq: int | None, oob: bool, render: Callable[[], SafeString]
) -> SafeString:
    """The render of `key` at (epoch, seq), made once for every caller within TTL. Without a
    number (Redis down: epoch "" and no seqs) nothing is shared."""
    if not epoch or seq is None:
        return render()
    entry = (key, epoch, seq, oob)
    with _lock:
        found = _fresh(entry)
        if found is not None:
            return found
        one = _rendering.setdefault(entry, threading.Lock())
    with one:  # single flight: the first caller renders, the rest wait and then find it
        with _lock:
            found = _fresh(entry)
        if found is not None:
            return found
        try:
            html = render()
        except BaseException:
            with _lock:
                _rendering.pop(entry, None)
            raise
        with _lock:
            _renders[entry] = (time.monotonic(), html)
            while len(_renders) > MAX_ENTRIES:
                _renders.popitem(last=False)
            _rendering.pop(entry, None)
        return html


def _fresh(entry: tuple[str, str, int, bool]) -> SafeString | None:
    cached = _renders.get(entry)
    if cached is None:
        return None
    made, html = cached
    if time.monotonic() - made > TTL:
        del _renders[entry]
        return None
    return html


def clear() -> None:
    with _lock:
        _renders.clear()
