"""The playbooks and triage rules, parsed once per worker and kept by the digest of their files.

Every new save reads them "now", so an edited file affects the next save. Reading six small files
is cheap; parsing and validating them is not (YAML and pydantic, about as much CPU as the rest of
opening a save). So the files are read each time, and parsed only when their bytes change. The
work runs in a thread, off the worker's event loop.
"""

from __future__ import annotations

import asyncio
import hashlib
import threading
from pathlib import Path

from playbook_defs.loader import PlaybookLibrary, load_playbooks
from playbook_defs.rules_file import load_rules_file, rules_path
from playbook_defs.triage_rules import TriageRules

TRIAGE_FILE = "triage.yaml"


def _digest(directory: Path) -> str:
    """The content digest of everything a library or the triage rules are parsed from."""
    h = hashlib.sha256()
    files = [*sorted(directory.glob("*.yaml")), *sorted((directory / "rules").glob("*.yaml"))]
    for path in files:
        h.update(path.name.encode() + b"\0")
        try:
            h.update(path.read_bytes())
        except OSError:
            h.update(b"<unreadable>")
        h.update(b"\0")
    for template in sorted((directory / "templates").glob("*.j2")):
        h.update(template.name.encode() + b"\0")
    return h.hexdigest()


class Definitions:
    """Parsed playbooks and triage rules of one directory, re-parsed only when the files change."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._lock = threading.Lock()
        self._library: tuple[str, PlaybookLibrary] | None = None
        self._triage: tuple[str, TriageRules] | None = None

    def library_now(self) -> PlaybookLibrary:
        digest = _digest(self.directory)
        with self._lock:
            if self._library is None or self._library[0] != digest:
                self._library = (digest, load_playbooks(self.directory))
            return self._library[1]

    def triage_now(self) -> TriageRules:
        digest = _digest(self.directory)
        with self._lock:
            if self._triage is None or self._triage[0] != digest:
                rules = load_rules_file(rules_path(self.directory, TRIAGE_FILE), TriageRules, self.directory)
                self._triage = (digest, rules)
            return self._triage[1]

    async def library(self) -> PlaybookLibrary:
        return await asyncio.to_thread(self.library_now)

    async def triage(self) -> TriageRules:
        return await asyncio.to_thread(self.triage_now)


_shared: dict[Path, Definitions] = {}


def definitions(directory: Path) -> Definitions:
    """One cache per directory per worker process."""
    key = directory.resolve()
    if key not in _shared:
        _shared[key] = Definitions(key)
    return _shared[key]
