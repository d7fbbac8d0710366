"""The longest life a save can have stays far inside Temporal's history limits.

A neglected enterprise save: nothing is done, every ladder climbs to the top, promises are
broken, help is asked for and ignored, the outcome comes two weeks late, and no recovery check is
ever completed. Each run (one per phase) must stay under 2,000 history events.
"""

from __future__ import annotations

from playbook_defs.vocabulary import OutcomeKind, OwnerRole, TriggerKind
from tests.harness import Harness
from workflows.models import AddCommitment, FlagHelp, RecordOutcome
from workflows.save import SaveWorkflow

BUDGET = 2000


async def test_a_neglected_save_with_full_recovery_stays_under_the_history_budget(harness: Harness) -> None:
    started = await harness.trigger("northwind", TriggerKind.PRODUCT_GAP)
    await harness.wait_open("northwind")
    for n in range(5):
        await harness.act(
            "northwind",
            SaveWorkflow.add_commitment,
            AddCommitment(what=f"Promise {n}", owner=OwnerRole.SUPPORT, due_in=f"{n + 2}d"),
        )
    await harness.act(
        "northwind",
        SaveWorkflow.flag_help,
        FlagHelp(role=OwnerRole.ENGINEERING, what="Need a fix date", by="Sam Ortiz"),
    )
    await harness.sleep(days=44)
    neglected = await harness.state("northwind")
    assert len({e.item for e in neglected.escalations}) >= 15 and neglected.first_contact.kept is False

    await harness.services.crm.set_health("northwind", 80, await harness.now())
    await harness.act(
        "northwind",
        SaveWorkflow.record_outcome,
        RecordOutcome(kind=OutcomeKind.SAVED, reason="renewed at the last minute"),
    )
    result = await harness.result("northwind")
    assert result.closed_reason == "recovered"

    assert started.run_id is not None
    lengths = await harness.history_lengths("northwind", started.run_id)
    print(f"\nhistory events per run of the longest path: {lengths} (total {sum(lengths)})")
    assert len(lengths) >= 2 and max(lengths) < BUDGET, lengths
