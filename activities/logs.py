"""A structlog logger for an activity, bound with the workflow, run, account and playbook."""

from __future__ import annotations

from typing import Any

import structlog
from temporalio import activity

from workflows.contracts import SaveRef


def activity_log(save: SaveRef | None = None, **extra: Any) -> Any:
    info = activity.info()
    log = structlog.get_logger("saves.activity").bind(
        activity=info.activity_type,
        attempt=info.attempt,
        workflow_id=info.workflow_id,
        run_id=info.workflow_run_id,
        **extra,
    )
    if save is not None:
        log = log.bind(account_id=save.account_id, save_id=save.save_id, playbook=save.playbook_id)
    return log
