"""``saves accounts``: list and search the CRM store's accounts without reading the import file."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from typer.testing import CliRunner

from activities.store.db import create_schema, make_engine
from worker.cli import app
from worker.demo import load_demo_crm


async def _load(url: str) -> None:
    engine = make_engine(url)
    await create_schema(engine)
    await load_demo_crm(engine)
    await engine.dispose()


@pytest.fixture
def demo_crm(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SAVES_DATA_DIR", str(tmp_path / "saves"))
    monkeypatch.setenv("SAVES_TEMPORAL_ADDRESS", "127.0.0.1:9")  # nothing listens: open saves unknown
    monkeypatch.chdir(tmp_path)
    (tmp_path / "saves").mkdir()
    asyncio.run(_load(f"sqlite+aiosqlite:///{tmp_path / 'saves' / 'crm.db'}"))
    return tmp_path


def test_lists_every_account_largest_first_with_owner_tier_and_risk(demo_crm: Path) -> None:
    result = CliRunner().invoke(app, ["accounts"])
    assert result.exit_code == 0, result.output
    lines = [line for line in result.output.splitlines() if "│" in line]
    assert len(lines) == 10 and "ferrovia" in lines[0] and "$420k" in lines[0] and "lumenworks" in lines[-1]
    northwind = next(line for line in lines if "northwind" in line)
    assert "Sam Ortiz (u-sam)" in northwind and "enterprise" in northwind and "$240k" in northwind
    assert "open saves unknown: cannot reach Temporal at 127.0.0.1:9" in result.output


def test_searches_ids_and_names_and_says_when_nothing_matches(demo_crm: Path) -> None:
    found = CliRunner().invoke(app, ["accounts", "NORTH"])
    assert [line.split("│")[1].strip() for line in found.output.splitlines() if "│" in line] == ["northwind"]
    by_name = CliRunner().invoke(app, ["accounts", "schools"])
    assert "maplecrest" in by_name.output
    none = CliRunner().invoke(app, ["accounts", "zzz"])
    assert none.exit_code == 0 and "No accounts matching 'zzz'" in none.output
