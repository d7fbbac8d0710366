"""Structured logs: structlog for our code, with the standard library (Temporal's own loggers and
``workflow.logger``) rendered the same way. Workflow log lines carry workflow id, run id,
account and playbook; activity lines carry the activity, its attempt and the save's workflow id.

A failure is one line (exception type, message, attempt, workflow id). Tracebacks are kept only at
DEBUG, and never with local variables: under load a rendered traceback with locals ran to about a
thousand lines and held the worker's only event loop for seconds, which delayed heartbeats and
caused the very timeouts it was reporting. Lines are rendered and written by a background thread,
so a slow terminal or disk never stalls the event loop either.
"""

from __future__ import annotations

import atexit
import logging
import logging.handlers
import queue
import sys
from collections.abc import MutableMapping
from pathlib import Path
from typing import Any

import structlog
from temporalio import activity, workflow

_MESSAGE_LIMIT = 500
_listener: logging.handlers.QueueListener | None = None


def _flatten_temporal(_: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """Temporal puts workflow and activity info under ``temporal_workflow`` / ``temporal_activity``;
    lift the useful keys."""
    record = event.get("_record")
    info = getattr(record, "temporal_workflow", None) if record else None
    if isinstance(info, dict):
        event.setdefault("workflow_id", info.get("workflow_id"))
        event.setdefault("run_id", info.get("run_id"))
    act = getattr(record, "temporal_activity", None) if record else None
    if isinstance(act, dict):
        event.setdefault("activity", act.get("activity_type"))
        event.setdefault("attempt", act.get("attempt"))
        event.setdefault("workflow_id", act.get("workflow_id"))
    for key in ("account_id", "playbook", "save_id", "item", "level", "reason"):
        if record is not None and hasattr(record, key):
            event.setdefault(key, getattr(record, key))
    return event


def _exception(exc_info: Any) -> BaseException | None:
    if isinstance(exc_info, BaseException):
        return exc_info
    if isinstance(exc_info, tuple) and len(exc_info) == 3:
        return exc_info[1] if isinstance(exc_info[1], BaseException) else None
    if exc_info is True:
        return sys.exc_info()[1]
    return None


def one_line_failures(keep_tracebacks: bool) -> Any:
    """A processor: an exception becomes ``error_type`` and ``error`` fields on the line; its
    traceback stays only when ``keep_tracebacks`` (DEBUG)."""

    def processor(_: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
        if "exc_info" not in event:
            return event
        exc = _exception(event["exc_info"])
        if exc is not None:
            event.setdefault("error_type", type(exc).__name__)
            message = str(exc).strip().splitlines()
            event.setdefault("error", message[0][:_MESSAGE_LIMIT] if message else "")
        if not keep_tracebacks or exc is None:
            event.pop("exc_info")
        return event

    return processor


def _capture_exc_info(_: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """``exc_info=True`` means "the exception being handled": resolve it here, on the logging
    thread, because the line is rendered later on another one."""
    if event.get("exc_info") is True:
        event["exc_info"] = sys.exc_info()
    return event


class _RecordQueue(logging.handlers.QueueHandler):
    """Hands the record as it is to the listener thread, which renders it (exception included)."""

    def prepare(self, record: logging.LogRecord) -> logging.LogRecord:
        return record


def stop() -> None:
    """Write out every queued line and stop the background writer (at exit, or in a test)."""
    global _listener
    if _listener is not None:
        _listener.stop()
        _listener = None


def configure_logging(fmt: str = "console", level: str = "INFO", log_file: Path | None = None) -> None:
    """Logs to stderr; with ``log_file`` (``saves up``), to that file, and only warnings to the
    terminal, so the person who ran the command sees its messages rather than every step."""
    debug = level.upper() == "DEBUG"
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if fmt == "json"
        else structlog.dev.ConsoleRenderer(colors=False, exception_formatter=structlog.dev.plain_traceback)
    )
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    structlog.configure(
        processors=[*shared, _capture_exc_info, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    final: list[Any] = [structlog.stdlib.ProcessorFormatter.remove_processors_meta]
    if fmt == "json":
        final.append(structlog.processors.format_exc_info)  # plain text, no locals (DEBUG only)
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[*shared, _flatten_temporal],
        processors=[_flatten_temporal, one_line_failures(debug), *final, renderer],
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
    stop()
    global _listener
    records: queue.SimpleQueue[logging.LogRecord] = queue.SimpleQueue()
    _listener = logging.handlers.QueueListener(records, *handlers, respect_handler_level=True)
    _listener.start()
    atexit.register(stop)
    root = logging.getLogger()
    root.handlers[:] = [_RecordQueue(records)]
    root.setLevel(level.upper())
