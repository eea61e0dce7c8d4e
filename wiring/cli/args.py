"""Argument helpers shared by the commands."""

from __future__ import annotations

import json
from typing import Any

from ..errors import GraphError


def assignments(items: list[str], flag: str) -> dict[str, Any]:
    """``["k=4", "name=ws"]`` -> ``{"k": 4, "name": "ws"}`` (values read as JSON where they parse)."""
    parsed = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise GraphError(f"{flag} takes NAME=VALUE, got {item!r}")
        try:
            parsed[name] = json.loads(value)
        except ValueError:
            parsed[name] = value
    return parsed
