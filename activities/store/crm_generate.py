"""A generated CRM for trying the risk scan at scale: many accounts with realistic signal mixes.

Deterministic for a seed and a day, so a test can say how many saves a scan of it must start.
"""

from __future__ import annotations

import random
from datetime import date, timedelta
from typing import Any

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncEngine

from activities.store.tables import Account

PREFIX = "gen-"


def generated_accounts(count: int, today: date, seed: int = 7) -> list[dict[str, Any]]:
    rnd = random.Random(seed)
    rows = []
    for n in range(count):
        tier = rnd.choices(["smb", "mid_market", "enterprise"], weights=[60, 30, 10])[0]
        arr = {"smb": rnd.randint(5, 40), "mid_market": rnd.randint(40, 150), "enterprise": rnd.randint(150, 900)}[
            tier
        ] * 1000.0
        onboarding = rnd.random() < 0.03
        started = today - timedelta(days=rnd.randint(0, 60))
        live = None if onboarding else today - timedelta(days=rnd.randint(60, 1500))
        rows.append(
            {
                "id": f"{PREFIX}{n:06d}",
                "name": f"Generated Account {n}",
                "tier": tier,
                "arr": arr,
                "renewal_date": today + timedelta(days=rnd.randint(1, 365)),
                "renewal_likelihood": float(rnd.randint(40, 74) if rnd.random() < 0.06 else rnd.randint(82, 99)),
                "health": rnd.randint(20, 39) if rnd.random() < 0.02 else rnd.randint(58, 98),
                "usage_pct": float(rnd.randint(10, 49) if rnd.random() < 0.03 else rnd.randint(62, 100)),
                "onboarding_started": started if onboarding else None,
                "live_since": live,
                "payment_overdue_since": (today - timedelta(days=rnd.randint(1, 180)) if rnd.random() < 0.02 else None),
                "last_business_review": None
                if onboarding
                else today - timedelta(days=rnd.randint(181, 400) if rnd.random() < 0.02 else rnd.randint(0, 170)),
                "sponsor_status": rnd.choices(["engaged", "disengaged", "lost"], weights=[92, 7, 1])[0],
                "fit": rnd.choices(["good", "partial", "poor"], weights=[80, 15, 5])[0],
                "flags": ["strategic"] if tier == "enterprise" and rnd.random() < 0.2 else [],
                "risk_status": "green",
                "risk_set_by": "scan",
                "scan_fired": [],
                "attributes": {},
            }
        )
    return rows


async def add_generated_accounts(engine: AsyncEngine, count: int, today: date, seed: int = 7) -> int:
    """Insert ``count`` generated accounts (ids ``gen-000000`` ...); existing ids must not clash."""
    rows = generated_accounts(count, today, seed)
    async with engine.begin() as conn:
        for start in range(0, len(rows), 2000):
            await conn.execute(insert(Account), rows[start : start + 2000])
    return len(rows)
