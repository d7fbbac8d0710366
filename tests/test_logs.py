"""A failure is logged as one structured line; tracebacks only at DEBUG, never with local variables."""

from __future__ import annotations

import json
import logging

import pytest
import structlog

from worker.runtime import logs


def _fail(secret_local: str = "hunter2") -> None:
    raise ValueError(f"CRM refused the task\nsecond line {len(secret_local)}")


def _emit() -> None:
    try:
        _fail()
    except ValueError:
        logging.getLogger("temporalio.activity").warning(
            "Completing activity as failed",
            exc_info=True,
            extra={"temporal_activity": {"activity_type": "create_crm_task", "attempt": 3, "workflow_id": "save-acme"}},
        )
    try:
        _fail()
    except ValueError:
        structlog.get_logger("saves").exception("step failed", save_id="acme-1")


def _lines(capfd: pytest.CaptureFixture[str], fmt: str, level: str) -> list[str]:
    logs.configure_logging(fmt, level)
    try:
        _emit()
    finally:
        logs.stop()  # flushes the background writer
        logging.getLogger().handlers[:] = []
        structlog.reset_defaults()
    return capfd.readouterr().err.splitlines()


def test_a_failure_is_one_json_line_with_type_message_attempt_and_save(capfd: pytest.CaptureFixture[str]) -> None:
    lines = _lines(capfd, "json", "INFO")
    assert len(lines) == 2, lines
    activity, step = (json.loads(line) for line in lines)
    assert activity["error_type"] == "ValueError" and activity["error"] == "CRM refused the task"
    assert activity["attempt"] == 3 and activity["workflow_id"] == "save-acme"
    assert activity["activity"] == "create_crm_task"
    assert step["save_id"] == "acme-1" and step["error_type"] == "ValueError"
    assert "exception" not in activity and "exception" not in step


def test_console_lines_carry_no_traceback_above_debug(capfd: pytest.CaptureFixture[str]) -> None:
    lines = _lines(capfd, "console", "INFO")
    assert len(lines) == 2, lines
    assert all("error_type=ValueError" in line for line in lines)


@pytest.mark.parametrize("fmt", ["console", "json"])
def test_debug_keeps_the_traceback_but_never_local_variables(capfd: pytest.CaptureFixture[str], fmt: str) -> None:
    text = "\n".join(_lines(capfd, fmt, "DEBUG"))
    assert "Traceback" in text and "_fail" in text
    assert "hunter2" not in text  # the value of a local variable
