"""A save keeps the playbook it started with: editing the YAML only changes new saves."""

from __future__ import annotations

import shutil
from pathlib import Path

from temporalio.testing import WorkflowEnvironment

from playbook_defs.loader import PLAYBOOK_DIR
from playbook_defs.vocabulary import TriggerKind
from tests.harness import Harness, SmtpSink
from worker.runtime.settings import Settings


async def test_editing_a_playbook_file_never_changes_a_running_save(
    time_env: WorkflowEnvironment, settings: Settings, smtp: SmtpSink, tmp_path: Path
) -> None:
    playbooks = tmp_path / "playbooks"
    shutil.copytree(PLAYBOOK_DIR, playbooks, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    settings = settings.model_copy(update={"playbook_dir": playbooks})
    async with Harness.running(time_env, settings, smtp) as h:
        before = await h.start("bluepeak", TriggerKind.LOW_USAGE)
        assert before.playbook.version == 1

        path = playbooks / "value_roi.yaml"
        text = path.read_text()
        edited = text.replace("version: 1", "version: 2", 1).replace(
            "title: Draft the save plan", "title: Draft the save plan (v2)", 1
        )
        assert edited.count("(v2)") == 1
        path.write_text(edited)

        await h.sleep(days=3)
        running = await h.state("bluepeak")
        assert running.playbook.version == 1 and running.playbook.digest == before.playbook.digest
        assert "(v2)" not in running.tasks["save_plan"].title

        fresh = await h.start("maplecrest", TriggerKind.LOW_USAGE)
        assert fresh.playbook.version == 2 and fresh.playbook.digest != before.playbook.digest
        assert "(v2)" in fresh.tasks["save_plan"].title
