"""A CRM store created by an earlier release gains the new account columns and keeps its data."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import text

from activities.store.db import create_schema, make_engine
from activities.store.sql_crm import SqlCrm


async def test_an_older_store_gains_new_columns_and_keeps_its_accounts(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'old.db'}")
    try:
        async with engine.begin() as conn:
            await conn.execute(text(
                "CREATE TABLE accounts (id VARCHAR(128) PRIMARY KEY, name VARCHAR(200) NOT NULL, "
                "tier VARCHAR(32) NOT NULL, arr FLOAT NOT NULL, renewal_date DATE, health INTEGER, "
                "usage_pct FLOAT, risk_status VARCHAR(16) NOT NULL, attributes JSON NOT NULL)"))
            await conn.execute(text("INSERT INTO accounts VALUES "
                                    "('acme', 'Acme', 'smb', 12000, NULL, 70, 80, 'yellow', '{}')"))
        await create_schema(engine)
        account = await SqlCrm(engine).get_account("acme")
        assert account is not None and account.arr == 12000 and account.flags == ()
        async with engine.connect() as conn:
            row = (await conn.execute(text("SELECT risk_set_by, scan_fired FROM accounts"))).one()
        assert tuple(row) == ("scan", "[]")
    finally:
        await engine.dispose()
