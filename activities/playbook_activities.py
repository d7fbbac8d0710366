"""Loading the playbook a save runs. Its result, in history, is the save's playbook snapshot."""

from __future__ import annotations

from pathlib import Path

from temporalio import activity
from temporalio.exceptions import ApplicationError

from playbook_defs.loader import PLAYBOOK_DIR, PlaybookError, load_playbooks
from playbook_defs.schema import PlaybookDef
from workflows.contracts import INVALID_PLAYBOOK, ActivityName, PlaybookRequest


class PlaybookActivities:
    def __init__(self, directory: Path = PLAYBOOK_DIR) -> None:
        self.directory = directory

    @activity.defn(name=ActivityName.LOAD_PLAYBOOK.value)
    async def load_playbook(self, request: PlaybookRequest) -> PlaybookDef:
        """Read the playbook files now, so a new save gets the current version of its playbook.

        A broken file is retried (someone can fix it and the save goes on); a playbook or
        route that does not exist is not.
        """
        try:
            library = load_playbooks(self.directory)
        except PlaybookError as exc:
            raise ApplicationError(str(exc), type=INVALID_PLAYBOOK) from exc
        try:
            if request.playbook_id:
                return library.get(request.playbook_id)
            return library.route(request.kind, request.reason)
        except KeyError as exc:
            raise ApplicationError(exc.args[0], type=INVALID_PLAYBOOK, non_retryable=True) from exc
