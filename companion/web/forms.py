"""Small strict parsers for submitted forms and JSON bodies.

Each parser reads one field, adds a plain message to ``errors`` when the value is missing,
malformed or out of range, and never raises on any input. A field given twice is an error, and so
is a field the form does not know about (no mass assignment, VAL-01).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, time
from typing import Any

IDEMPOTENCY_KEY = re.compile(r"^[A-Za-z0-9_\-]{8,100}$")
FRAMEWORK_FIELDS = frozenset({"_csrf_token", "idempotency_key"})


@dataclass
class FormData:
    """Submitted values as lists (a field may appear more than once) plus collected errors."""

    values: dict[str, list[str]]
    errors: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_multidict(cls, form: Any) -> FormData:
        values: dict[str, list[str]] = {}
        for key, value in form.multi_items():
            values.setdefault(key, []).append(value if isinstance(value, str) else "")
        return cls(values)

    @classmethod
    def from_json(cls, body: Mapping[str, Any]) -> FormData:
        values: dict[str, list[str]] = {}
        for key, value in body.items():
            if isinstance(value, bool):
                values[key] = ["true" if value else "false"]
            elif value is None:
                values[key] = [""]
            elif isinstance(value, (int, float, str)):
                values[key] = [str(value)]
            else:
                values[key] = ["\x00invalid"]
        return cls(values)

    def fail(self, name: str, message: str) -> None:
        self.errors.setdefault(name, message)

    @property
    def ok(self) -> bool:
        return not self.errors

    def raw(self, name: str) -> str | None:
        found = self.values.get(name)
        if not found:
            return None
        if len(found) > 1:
            self.fail(name, "This field was sent more than once.")
            return None
        return found[0].strip()

    def reject_unknown(self, known: Iterable[str]) -> None:
        allowed = set(known) | FRAMEWORK_FIELDS
        for name in self.values:
            if name not in allowed:
                self.fail(name, "This field is not part of the form.")

    def integer(self, name: str, low: int, high: int, *, required: bool = True, label: str = "") -> int | None:
        value = self.raw(name)
        if value in (None, ""):
            if required and name not in self.errors:
                self.fail(name, f"Please choose {label or 'a value'}.")
            return None
        if not re.fullmatch(r"-?\d{1,6}", value):
            self.fail(name, f"Enter a whole number from {low} to {high}.")
            return None
        number = int(value)
        if not low <= number <= high:
            self.fail(name, f"Enter a number from {low} to {high}.")
            return None
        return number

    def decimal(self, name: str, low: float, high: float, *, step: float = 0.5) -> float | None:
        value = self.raw(name)
        if value in (None, ""):
            return None
        try:
            number = float(value.replace(",", "."))
        except ValueError:
            self.fail(name, f"Enter a number from {low:g} to {high:g}.")
            return None
        if not (low <= number <= high) or abs(number / step - round(number / step)) > 1e-9:
            self.fail(name, f"Enter a number from {low:g} to {high:g}, in steps of {step:g}.")
            return None
        return number

    def choice(self, name: str, choices: Iterable[str], *, required: bool = True, label: str = "") -> str | None:
        value = self.raw(name)
        if value in (None, ""):
            if required and name not in self.errors:
                self.fail(name, f"Please choose {label or 'an option'}.")
            return None
        if value not in set(choices):
            self.fail(name, "Choose one of the options shown.")
            return None
        return value

    def text(self, name: str, max_length: int, *, required: bool = False, label: str = "") -> str:
        value = self.raw(name)
        if value is None or value == "":
            if required and name not in self.errors:
                self.fail(name, f"Please enter {label or 'some text'}.")
            return ""
        if "\x00" in value:
            self.fail(name, "This text contains characters that cannot be saved.")
            return ""
        if len(value) > max_length:
            self.fail(name, f"Keep this under {max_length} characters (it has {len(value)}).")
            return ""
        return value.replace("\r\n", "\n")

    def boolean(self, name: str) -> bool:
        value = self.raw(name)
        return value is not None and value.lower() in ("1", "on", "true", "yes")

    def local_date(self, name: str, *, required: bool = True) -> date | None:
        value = self.raw(name)
        if not value:
            if required and name not in self.errors:
                self.fail(name, "Please enter a date.")
            return None
        try:
            return date.fromisoformat(value)
        except ValueError:
            self.fail(name, "Enter a date like 2026-03-14.")
            return None

    def local_time(self, name: str, *, required: bool = True) -> time | None:
        value = self.raw(name)
        if not value:
            if required and name not in self.errors:
                self.fail(name, "Please enter a time.")
            return None
        if not re.fullmatch(r"\d{2}:\d{2}(:\d{2})?", value):
            self.fail(name, "Enter a time like 19:30.")
            return None
        try:
            return time.fromisoformat(value)
        except ValueError:
            self.fail(name, "Enter a time like 19:30.")
            return None

    def idempotency_key(self) -> str | None:
        value = self.raw("idempotency_key")
        if value is None:
            return None
        if not IDEMPOTENCY_KEY.fullmatch(value):
            self.fail("idempotency_key", "This form is out of date. Reload the page and try again.")
            return None
        return value
