"""One copy of each playbook per worker, shared by every save that runs it.

Each save receives its playbook as data (from the opening activity, or in the state carried across
continue-as-new), so without this a worker holding a thousand saves holds a thousand identical
copies. Playbooks are frozen models identified by the digest of their file; a copy equal to the
one already held is swapped for it, which changes nothing a save can observe (replay included).
"""

from __future__ import annotations

from playbook_defs.schema import PlaybookDef
from workflows.models import SaveState

_MAX_KEPT = 64
"""Playbook versions held at once; a worker sees a handful (six playbooks, a few versions each)."""

_kept: dict[str, PlaybookDef] = {}


def shared_playbook(playbook: PlaybookDef) -> PlaybookDef:
    """The worker's copy of ``playbook`` if it holds an equal one, else ``playbook`` (now kept)."""
    if not playbook.digest:
        return playbook
    kept = _kept.get(playbook.digest)
    if kept is not None and kept == playbook:
        return kept
    if len(_kept) >= _MAX_KEPT:
        _kept.pop(next(iter(_kept)))
    _kept[playbook.digest] = playbook
    return playbook


def share_playbook(state: SaveState) -> SaveState:
    state.playbook = shared_playbook(state.playbook)
    return state
