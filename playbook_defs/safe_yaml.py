"""YAML as playbooks, rules and CRM import files are read: plain data, no aliases.

``yaml.safe_load`` still expands aliases, so a one-kilobyte file of nested ``*anchor`` references
("billion laughs") grows into gigabytes before any validation sees it. These files have no need
for anchors or aliases, so the loader refuses the first alias it meets, at once.
"""

from __future__ import annotations

from typing import Any

import yaml
from yaml.nodes import Node


class AliasRefused(yaml.YAMLError):
    """The file uses a YAML alias (``*name``); the message says where."""


class _NoAliasLoader(yaml.SafeLoader):
    def compose_node(self, parent: Node | None, index: Any) -> Node | None:
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()  # type: ignore[no-untyped-call]
            mark = event.start_mark
            raise AliasRefused(
                f"line {mark.line + 1}, column {mark.column + 1}: YAML aliases (*{event.anchor}) are not "
                "allowed; write the value out"
            )
        return super().compose_node(parent, index)


def load_yaml(data: str | bytes) -> Any:
    """Parse one YAML document into plain Python data; :class:`yaml.YAMLError` if it cannot be."""
    return yaml.load(data, Loader=_NoAliasLoader)
