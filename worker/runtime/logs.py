"""Structured logs: structlog for our code, with the standard library (Temporal's own loggers and
``workflow.logger``) rendered the same way. Workflow log lines carry workflow id, run id,
account and playbook."""

from __future__ import annotations

import logging
from collections.abc import MutableMapping
from pathlib import Path
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


def configure_logging(fmt: str = "console", level: str = "INFO", log_file: Path | None = None) -> None:
    """Logs to stderr; with ``log_file`` (``saves up``), to that file, and only warnings to the
    terminal, so the person who ran the command sees its messages rather than every step."""
    renderer: Any = (
        structlog.processors.JSONRenderer() if fmt == "json" else structlog.dev.ConsoleRenderer(colors=False)
    )
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
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[*shared, _flatten_temporal],
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
    )
    handlers: list[logging.Handler] = [logging.StreamHandler()]
    if log_file is not None:
        log_file.parent.mkdir(parents=True, exist_ok=True)
        handlers[0].setLevel(logging.WARNING)
        handlers.append(logging.FileHandler(log_file, encoding="utf-8"))
    for handler in handlers:
        handler.setFormatter(formatter)
    # The ids go into fields (see _flatten_temporal), not appended to the message as a dict.
    workflow.logger.workflow_info_on_message = False
    activity.logger.activity_info_on_message = False
    root = logging.getLogger()
    root.handlers[:] = handlers
    root.setLevel(level.upper())
