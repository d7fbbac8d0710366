"""The archive keeps a save's history in Temporal's protobuf encoding and reads rows from before
that (JSON) the same way: a post-mortem or a replay from the archive does not care which."""

from __future__ import annotations

import json
import zlib
from pathlib import Path

from temporalio.client import WorkflowHistory

from activities.store.archive import PROTOBUF_HISTORY, history_document, pack_histories, read_histories

HISTORIES = Path(__file__).resolve().parents[1] / "histories"


def _runs() -> list[WorkflowHistory]:
    return [
        WorkflowHistory.from_json("save-northwind", json.loads((HISTORIES / name).read_text()))
        for name in ("budget-saved-1-save.json", "budget-saved-2-recovery.json")
    ]


def _as_an_earlier_release_stored_it(runs: list[WorkflowHistory]) -> bytes:
    """zlib-compressed JSON: ``{"workflow_id", "runs": [History as JSON]}``."""
    document = {"workflow_id": runs[0].workflow_id, "runs": [h.to_json_dict() for h in runs]}
    return zlib.compress(json.dumps(document, separators=(",", ":")).encode(), level=6)


def test_a_history_archived_as_protobuf_reads_back_event_for_event() -> None:
    runs = _runs()
    blob = pack_histories(runs)
    assert blob.startswith(PROTOBUF_HISTORY)
    back = read_histories(blob)
    assert [h.workflow_id for h in back] == ["save-northwind", "save-northwind"]
    assert [list(h.events) for h in back] == [list(h.events) for h in runs]
    assert history_document(back) == {"workflow_id": "save-northwind", "runs": [h.to_json_dict() for h in runs]}
    assert len(blob) < len(_as_an_earlier_release_stored_it(runs))


def test_a_history_archived_as_json_by_an_earlier_release_still_reads() -> None:
    runs = _runs()
    back = read_histories(_as_an_earlier_release_stored_it(runs))
    assert [h.workflow_id for h in back] == ["save-northwind", "save-northwind"]
    assert [list(h.events) for h in back] == [list(h.events) for h in runs]


def test_a_save_without_history_archives_and_reads_as_empty() -> None:
    assert read_histories(pack_histories([])) == []
    assert history_document([]) == {"workflow_id": None, "runs": []}
