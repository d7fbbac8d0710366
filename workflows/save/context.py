"""What every behaviour of a running save shares: its state, its side effects, its background
work and what the UI shows. One :class:`SaveRun` per workflow run."""

from __future__ import annotations

from typing import Any

from temporalio.exceptions import ApplicationError

from workflows.models import SaveState
from workflows.save.effects import Effects
from workflows.save.publish import Publisher
from workflows.save.supervisor import Supervisor


def rejected(message: str) -> ApplicationError:
    """A refused update: the caller gets ``message``; nothing changed."""
    return ApplicationError(message, type="InvalidRequest", non_retryable=True)


class SaveRun:
    """The save's state plus the means to act on it; behaviours receive this, not the workflow."""

    def __init__(self) -> None:
        self.state: SaveState | None = None
        self.supervisor = Supervisor()
        self.publisher = Publisher()
        self.effects = Effects(self)
        self.recovery_period_over = False

    @property
    def s(self) -> SaveState:
        if self.state is None:
            raise rejected("the save is still opening; try again in a moment")
        return self.state

    def publish(self) -> None:
        """Refresh the stage, changed search attributes and the current details in the UI."""
        self.publisher.publish(self.s)

    def log_extra(self, **more: Any) -> dict[str, Any]:
        s = self.s
        return {"account_id": s.account.account_id, "playbook": s.playbook.id, "save_id": s.save_id, **more}
