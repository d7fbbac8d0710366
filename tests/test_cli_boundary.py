"""The command line refuses values a save cannot carry with one line naming the option, before
it connects to anything (no traceback, no Temporal call)."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from worker.cli import app

UNREACHABLE = {"SAVES_TEMPORAL_ADDRESS": "127.0.0.1:1"}  # any Temporal call would fail differently


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["trigger", "bluepeak", "--kind", "low_usage", "--signal", "usage_pct=1e999"], ["signals", "finite"]),
        (["trigger", "bluepeak", "--kind", "low_usage", "--signal", "usage_pct=NaN"], ["signals", "finite"]),
        (["trigger", "bluepeak", "--kind", "low_usage", "--source", "crm\r\nx"], ["source"]),
        (["commitment", "add", "northwind", "Call", "--owner", "csm", "--due", "99999999999d"], ["--due", "5 years"]),
        (["commitment", "add", "northwind", "Call", "--owner", "csm", "--due", "999999999d"], ["--due", "5 years"]),
        (["commitment", "add", "northwind", "Call", "--owner", "csm", "--due", "9999-12-31"], ["due_at", "range"]),
        (["outcome", "northwind", "partially_saved", "--reason", "x", "--arr-retained", "1e999"], ["arr_retained"]),
        (["reassign", "northwind", "--owner-id", "u-x", "--name", "Eve\nBcc: x@evil.example"], ["name"]),
    ],
)
def test_bad_values_get_one_line_naming_the_option(tmp_path: Path, args: list[str], words: list[str]) -> None:
    result = CliRunner().invoke(app, args, env={**UNREACHABLE, "SAVES_DATA_DIR": str(tmp_path)})
    assert result.exit_code == 2, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.output and "error:" in result.output
    for word in words:
        assert word in result.output, result.output
