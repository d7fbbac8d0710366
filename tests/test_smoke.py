from __future__ import annotations

from playbook_defs.vocabulary import CancellationReason, TriggerKind
from tests.harness import Harness


async def test_a_cancellation_opens_the_product_issue_save(harness: Harness) -> None:
    state = await harness.start("northwind", TriggerKind.CANCELLATION_REQUEST,
                                reason=CancellationReason.PRODUCT)
    assert state.playbook.id == "product_issue"
    print(await harness.saves.details("northwind"))
