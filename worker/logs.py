"""Structured logs: structlog for our code, with the standard library (Temporal's own loggers and
``workflow.logger``) rendered the same way. Workflow log lines carry workflow id, run id,
account and playbook."""

from __future__ import annotations

import logging
from collections.abc import MutableMapping
from typing import Any

import structlog
from temporalio import activity, workflow


def _flatten_temporal(_: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """``workflow.logger`` puts workflow info under ``temporal_workflow``; lift the useful keys."""
    record = event.get("_record")
    info = getattr(record, "temporal_workflow", None) if record else None
    if isinstance(info, dict):
        event.setdefault("workflow_id", info.get("workflow_id"))
        event.setdefault("run_id", info.get("run_id"))
    for key in ("account_id", "playbook", "save_id", "item", "level", "reason"):
        if record is not None and hasattr(record, key):
            event.setdefault(key, getattr(record, key))
    return event


def configure_logging(fmt: str = "console", level: str = "INFO") -> None:
    renderer: Any = (structlog.processors.JSONRenderer() if fmt == "json"
                     else structlog.dev.ConsoleRenderer(colors=False))
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    handler = logging.StreamHandler()
    handler.setFormatter(structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[*shared, _flatten_temporal],
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
    ))
    # The ids go into fields (see _flatten_temporal), not appended to the message as a dict.
    workflow.logger.workflow_info_on_message = False
    activity.logger.activity_info_on_message = False
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
