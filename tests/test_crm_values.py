"""Values from the CRM pass the same rules as requests: an import file with a number JSON cannot
carry is refused naming the entry and field, and an account the CRM holds with such a value fails
the step once (non-retryable), never a workflow task for ever."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import update
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.crm_activities import CrmActivities
from activities.store.crm_import import CrmImportError, read_crm_file
from activities.store.db import create_schema, make_engine, sessions
from activities.store.sql_crm import SqlCrm
from activities.store.tables import Account
from worker.demo import load_demo_crm

ACCOUNT = "  - {id: acme, name: %s, tier: smb, arr: %s}\n"


@pytest.mark.parametrize(
    ("name", "arr", "words"),
    [
        ("Acme", ".inf", ["accounts[0]", "arr", "finite"]),
        ("Acme", "1e999", ["accounts[0]", "arr", "finite"]),
        ("Acme", ".nan", ["accounts[0]", "arr"]),
        ('"Acme \\ud800"', "100", ["accounts[0]", "name", "nicode"]),
    ],
)
def test_an_import_file_with_values_a_save_cannot_carry_is_refused(
    tmp_path: Path, name: str, arr: str, words: list[str]
) -> None:
    path = tmp_path / "crm.yaml"
    path.write_text("accounts:\n" + ACCOUNT % (name, arr))
    with pytest.raises(CrmImportError) as raised:
        read_crm_file(path)
    for word in words:
        assert word in str(raised.value), str(raised.value)


def test_an_import_file_with_a_yaml_alias_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "crm.yaml"
    path.write_text("team: &t {}\naccounts: []\nmore: *t\n")
    with pytest.raises(CrmImportError, match="alias"):
        read_crm_file(path)


async def test_an_account_read_with_an_infinite_arr_fails_the_step_once(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'crm.db'}")
    try:
        await create_schema(engine)
        await load_demo_crm(engine)
        async with sessions(engine)() as session:
            await session.execute(update(Account).where(Account.id == "northwind").values(arr=float("inf")))
            await session.commit()
        with pytest.raises(ApplicationError) as raised:
            await ActivityEnvironment().run(CrmActivities(SqlCrm(engine)).fetch_account, "northwind")
    finally:
        await engine.dispose()
    assert raised.value.non_retryable and "arr" in raised.value.message and "finite" in raised.value.message
