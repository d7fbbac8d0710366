"""``saves report`` and ``saves postmortem`` on the command line, over an archive in a SQL store."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from activities.store.archive import Archive
from activities.store.db import create_schema, make_engine
from tests.test_report import mix
from worker.cli import app


async def _fill(url: str) -> None:
    engine = make_engine(url)
    await create_schema(engine)
    archive = Archive(engine)
    for record in mix():
        await archive.put(record, [], datetime.now(UTC))
    await engine.dispose()


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SAVES_DATA_DIR", str(tmp_path / "saves"))
    monkeypatch.setenv("SAVES_TEMPORAL_ADDRESS", "127.0.0.1:9")  # nothing listens: archive only
    monkeypatch.chdir(tmp_path)
    asyncio.run(_fill(f"sqlite+aiosqlite:///{tmp_path / 'saves' / 'crm.db'}"))
    return tmp_path


def test_one_command_writes_the_html_report_and_answers_the_48_hour_question(store: Path) -> None:
    result = CliRunner().invoke(app, ["report"])
    assert result.exit_code == 0, result.output
    page = (store / "saves-report.html").read_text()
    assert "Which playbooks save accounts?" in page and "<svg" in page
    assert "Too few decided saves to tell yet" in result.output


def test_report_as_csv_and_json_with_filters(store: Path) -> None:
    as_json = CliRunner().invoke(app, ["report", "--format", "json", "--playbook", "value_roi"])
    assert as_json.exit_code == 0, as_json.output
    data = json.loads(as_json.stdout)
    assert data["saves"] == 4 and data["overall"]["save_rate_pct"] == 75.0
    as_csv = CliRunner().invoke(app, ["report", "--format", "csv", "--since", "2026-01-09"])
    assert as_csv.exit_code == 0 and as_csv.stdout.startswith("dimension,key,label")


def test_postmortem_falls_back_to_the_archive_when_temporal_is_unreachable(store: Path) -> None:
    result = CliRunner().invoke(app, ["postmortem", "a2", "--format", "html"])
    assert result.exit_code == 0, result.output
    page = (store / "postmortem-a2-s2.html").read_text()
    assert "Post-mortem: Account 2" in page and "relapsed" in page
    text = CliRunner().invoke(app, ["postmortem", "save-a2"])
    assert text.exit_code == 0 and "Recovery           relapsed after 14.0 days" in text.stdout


def test_postmortem_of_an_unknown_or_invalid_account_says_so(store: Path) -> None:
    unknown = CliRunner().invoke(app, ["postmortem", "nobody", "--archive-only"])
    assert unknown.exit_code == 2 and "no save for save-nobody in the archive" in unknown.output
    invalid = CliRunner().invoke(app, ["postmortem", "bad id!"])
    assert invalid.exit_code == 2 and "invalid account id" in invalid.output
