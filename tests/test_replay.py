"""The replay gate: recorded histories of every playbook's main paths, from every release, must
replay with the current ``SaveWorkflow``. A change that alters the commands of a running save (a
new activity or timer, a reordered step) fails here instead of breaking saves already running in
production; the same change behind ``workflow.patched`` replays.

Histories are append-only: a release adds ``tests/histories/<release>/`` beside the old ones
(``python scripts/record_histories.py <release>``) and never rewrites them. The ones at the top of
``tests/histories/`` are plaintext (from before the payload codec); ``encrypted/`` and the releases
since are encrypted with the test key (``tests/codec_keys.py``). All replay through the project's
data converter, which decrypts what is encrypted and passes plaintext through.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import DataConverter
from temporalio.worker import Replayer

from tests import codec_keys
from tests.replay_changed import SaveWithAnExtraTimer, SaveWithAPatchedTimer
from worker.runtime.codec import ENCODING
from worker.runtime.runner import workflow_runner
from workflows.ids import save_workflow_id
from workflows.save import SaveWorkflow

HISTORIES = sorted((Path(__file__).resolve().parent / "histories").rglob("*.json"))
ENCRYPTED = sorted((Path(__file__).resolve().parent / "histories" / "encrypted").glob("*.json"))


async def _histories(paths: list[Path]) -> AsyncIterator[WorkflowHistory]:
    for path in paths:
        yield WorkflowHistory.from_json(save_workflow_id(path.stem), path.read_text(encoding="utf-8"))


async def _failures(
    workflow_class: type, paths: list[Path] = HISTORIES, converter: DataConverter | None = None
) -> dict[str, str]:
    """File name -> replay error, for every recorded history that does not replay."""
    replayer = Replayer(
        workflows=[workflow_class],
        data_converter=converter or codec_keys.converter(),
        workflow_runner=workflow_runner(),
    )
    results = await replayer.replay_workflows(_histories(paths), raise_on_replay_failure=False)
    by_run = {save_workflow_id(p.stem): p.name for p in paths}
    failed: dict[str, str] = {}
    for run_id, error in results.replay_failures.items():
        failed[run_id] = f"{error}"
    return {by_run.get(k, k): v for k, v in failed.items()}


def test_the_gate_covers_every_playbook_and_phase() -> None:
    names = [p.name for p in HISTORIES]
    assert names, "no recorded histories: run python scripts/record_histories.py"
    for playbook in (
        "product_issue",
        "value_roi",
        "service_relationship",
        "budget",
        "competitive_threat",
        "champion_departure",
    ):
        mine = [n for n in names if n.startswith(playbook + "-")]
        assert any("-save." in n for n in mine) and any("-recovery." in n for n in mine), playbook
        assert any("-exit." in n for n in mine), playbook
    assert any("relapse" in n for n in names)


async def test_recorded_saves_replay_with_the_current_workflow() -> None:
    failures = await _failures(SaveWorkflow)
    assert failures == {}, (
        "saves started on an earlier release would break: put the change behind workflow.patched(...) "
        "(see tests/replay_changed.py): " + repr(failures)
    )


async def test_a_non_deterministic_change_fails_the_gate() -> None:
    failures = await _failures(SaveWithAnExtraTimer)
    assert len(failures) == len(HISTORIES)
    assert all("nondetermin" in error.lower() or "non-determin" in error.lower() for error in failures.values()), (
        failures
    )


async def test_the_same_change_behind_a_patch_replays_every_recorded_save() -> None:
    """The procedure for a command change: saves recorded before it still replay after it."""
    assert await _failures(SaveWithAPatchedTimer) == {}


async def test_encrypted_recordings_replay_through_the_codec() -> None:
    assert len(ENCRYPTED) >= 4, "the encrypted recordings in tests/histories/encrypted/ are missing"
    for path in ENCRYPTED:
        history = WorkflowHistory.from_json(path.stem, path.read_text(encoding="utf-8"))
        started = history.events[0].workflow_execution_started_event_attributes.input.payloads[0]
        assert started.metadata["encoding"] == ENCODING, f"{path.name} is not encrypted"
    assert await _failures(SaveWorkflow, ENCRYPTED) == {}
    without_the_key = await _failures(SaveWorkflow, ENCRYPTED, pydantic_data_converter)
    assert len(without_the_key) == len(ENCRYPTED)  # the codec really is in the replay path
    changed = await _failures(SaveWithAnExtraTimer, ENCRYPTED)
    assert len(changed) == len(ENCRYPTED)
