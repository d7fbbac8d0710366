"""Loading the triage rules a new save is triaged with; the result, in history, is their snapshot."""

from __future__ import annotations

from pathlib import Path

from temporalio import activity
from temporalio.exceptions import ApplicationError

from playbook_defs.loader import PLAYBOOK_DIR, PlaybookError
from playbook_defs.rules_file import load_rules_file, rules_path
from playbook_defs.triage_rules import TriageRules
from workflows.contracts import INVALID_PLAYBOOK, ActivityName

TRIAGE_FILE = "triage.yaml"


def load_triage_rules(playbook_dir: Path = PLAYBOOK_DIR) -> TriageRules:
    return load_rules_file(rules_path(playbook_dir, TRIAGE_FILE), TriageRules, playbook_dir)


class TriageActivities:
    def __init__(self, playbook_dir: Path = PLAYBOOK_DIR) -> None:
        self.playbook_dir = playbook_dir

    @activity.defn(name=ActivityName.LOAD_TRIAGE_RULES.value)
    async def load_triage_rules(self, account_id: str) -> TriageRules:
        """Read the rules now, so each new save is triaged with the current file.

        A broken file is retried, not skipped: someone fixes it and the save goes on triaged.
        """
        try:
            return load_triage_rules(self.playbook_dir)
        except PlaybookError as exc:
            activity.logger.warning("triage rules do not load", extra={"account_id": account_id})
            raise ApplicationError(str(exc), type=INVALID_PLAYBOOK) from exc
