"""Turn pydantic validation errors into lines a person can act on: the field, then the problem."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from pydantic import ValidationError


def field_path(loc: Iterable[int | str], data: Any) -> str:
    """``("steps", 2, "owner")`` becomes ``steps[2] (id 'ack_call').owner``, which a person can find."""
    out = ""
    node = data
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
            node = node[part] if isinstance(node, list) and part < len(node) else None
            if isinstance(node, Mapping) and "id" in node:
                out += f" (id {node['id']!r})"
        else:
            out += f".{part}" if out else str(part)
            node = node.get(part) if isinstance(node, Mapping) else None
    return out or "(top level)"


def describe(exc: ValidationError, data: Any) -> list[str]:
    """One ``"<field>: <problem>"`` line per error."""
    lines = []
    for err in exc.errors():
        message = str(err["msg"]).removeprefix("Value error, ")
        if err["type"] == "enum":
            message = f"unknown value {err['input']!r}; {message[0].lower()}{message[1:]}"
        where = field_path(err["loc"], data)
        # A whole-model check names its own field at the start of its message.
        lines.append(message if not err["loc"] and ": " in message else f"{where}: {message}")
    return lines
