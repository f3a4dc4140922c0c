"""Resyncs share one render per (epoch, stream, number); nothing else is shared."""

import threading
import time
from unittest import mock

import pytest
from django.utils.safestring import mark_safe

from realtime import shared_renders
from realtime.shared_renders import shared_render


def counting_render(calls, text="<p>x</p>", delay=0.0):
    def render():
        calls.append(1)
        time.sleep(delay)
        return mark_safe(text)

    return render


def setup_function():
    shared_renders.clear()


def test_concurrent_resyncs_of_one_stream_number_render_once():
    calls, results = [], []
    render = counting_render(calls, delay=0.05)

    def ask():
        results.append(shared_render("day:a1:2026-11-23", "e1", 7, True, render))

    threads = [threading.Thread(target=ask) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(calls) == 1
    assert results == ["<p>x</p>"] * 20


def test_a_new_number_epoch_or_shape_renders_again():
    calls = []
    render = counting_render(calls)
    shared_render("day:a1:2026-11-23", "e1", 7, True, render)
    shared_render("day:a1:2026-11-23", "e1", 8, True, render)  # the stream moved
    shared_render("day:a1:2026-11-23", "e2", 7, True, render)  # Redis restarted
    shared_render("day:a1:2026-11-23", "e1", 7, False, render)  # not out-of-band
    shared_render("day:a2:2026-11-23", "e1", 7, True, render)  # another stream
    assert len(calls) == 5


def test_without_a_number_nothing_is_shared():
    calls = []
    render = counting_render(calls)
    for _ in range(3):
        shared_render("day:a1:2026-11-23", "", None, True, render)  # Redis down
        shared_render("day:a1:2026-11-23", "e1", None, True, render)
    assert len(calls) == 6


def test_renders_expire():
    calls = []
    render = counting_render(calls)
    now = time.monotonic()
    with mock.patch("realtime.shared_renders.time.monotonic", return_value=now):
        shared_render("k", "e", 1, True, render)
        shared_render("k", "e", 1, True, render)
    later = now + shared_renders.TTL + 0.1
    with mock.patch("realtime.shared_renders.time.monotonic", return_value=later):
        shared_render("k", "e", 1, True, render)
    assert len(calls) == 2


def test_a_failed_render_is_not_kept_and_does_not_block_the_next():
    def broken():
        raise RuntimeError("database away")

    with pytest.raises(RuntimeError):
        shared_render("k", "e", 1, True, broken)
    calls = []
    assert shared_render("k", "e", 1, True, counting_render(calls)) == "<p>x</p>"
    assert len(calls) == 1
