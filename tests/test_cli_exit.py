"""A ``saves`` command that loaded Temporal's core runtime ends with its own exit code and message,
never with a crash in Python's shutdown under the runtime's native threads."""

from __future__ import annotations

import os
import subprocess
import sys

PROBE = """
import atexit, sys
class Last:
    def __del__(self):
        print("interpreter finalized", flush=True)
keep = Last()
atexit.register(print, "exit handlers ran")
sys.argv = ["saves", *sys.argv[1:]]
from worker.cli import app
app()
"""


def _saves(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", PROBE, *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, "COLUMNS": "200", **env},
    )


def test_a_command_that_reached_for_temporal_exits_with_its_code_and_without_finalizing() -> None:
    done = _saves("show", "acct-1", SAVES_ENCRYPTION="off", SAVES_TEMPORAL_ADDRESS="127.0.0.1:1")
    assert done.returncode == 1, done.stderr
    assert "cannot reach Temporal at 127.0.0.1:1" in done.stderr
    assert "exit handlers ran" in done.stdout  # logs flushed, listeners stopped
    assert "interpreter finalized" not in done.stdout
    assert "Fatal Python error" not in done.stderr


def test_a_command_that_never_loaded_temporal_exits_normally() -> None:
    done = _saves("--help")
    assert done.returncode == 0, done.stderr
    assert "Report a risk signal" in done.stdout
    assert "interpreter finalized" in done.stdout
