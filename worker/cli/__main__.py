"""``python -m worker.cli``: the same as the ``saves`` command."""

from worker.cli import app

app()
