"""Inputs shared by the page forms."""

from __future__ import annotations

from datetime import date
from typing import Any

from django import forms
from django.utils.formats import date_format
from django.utils.html import format_html
from django.utils.safestring import SafeString, mark_safe


class DayInput(forms.DateInput):
    """A browser date picker with the chosen day in the academy's words beside it ("Mon 30 Nov
    2026"): the picker itself shows the browser's locale (11/30/2026), which the pages around
    it never use. The words are the day as the server has it (the form's value), so they read
    right without JS; the picker sends ISO dates."""

    def __init__(self, attrs: dict[str, Any] | None = None) -> None:
        super().__init__(attrs={"type": "date", **(attrs or {})}, format="%Y-%m-%d")

    def render(
        self,
        name: str,
        value: Any,
        attrs: dict[str, Any] | None = None,
        renderer: Any = None,
    ) -> SafeString:
        day = _as_day(value)
        field_id = (attrs or {}).get("id") or self.attrs.get("id")
        if day is None or not field_id:
            return super().render(name, value, attrs, renderer)
        hint_id = f"{field_id}-read"
        described = " ".join(filter(None, [(attrs or {}).get("aria-describedby"), hint_id]))
        attrs = {**(attrs or {}), "aria-describedby": described}
        html = super().render(name, value, attrs, renderer)
        words = format_html(
            ' <span class="field-hint" id="{}">{}</span>', hint_id, date_format(day)
        )
        return mark_safe(html + words)  # both parts are escaped above


def _as_day(value: Any) -> date | None:
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value)) if value else None
    except ValueError:
        return None  # a bad typed value: the form's error says so, no words to show
