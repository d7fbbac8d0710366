"""Reassigning a save's owner in HubSpot: the company owner changes and the save's open tasks move."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from activities.hubspot.client import HubSpotClient
from activities.hubspot.crm import HubSpotCrm
from playbook_defs.vocabulary import OwnerRole
from tests.fake_hubspot import TOKEN, running
from tests.test_hubspot import seed
from workflows.contracts import AssignOwnerRequest, CrmTaskRequest, SaveRef

AT = datetime(2027, 3, 1, 9, 30, tzinfo=UTC)
SAVE = SaveRef(account_id="northwind", save_id="save-northwind", playbook_id="service_relationship")


async def test_the_new_csm_owns_the_company_and_the_save_s_open_tasks() -> None:
    with running() as fake:
        seed(fake)
        fake.add_owner("504", "Aisha", "Khan", "aisha.khan@ourco.example.com")
        crm = HubSpotCrm(HubSpotClient(TOKEN, fake.url))
        try:
            sam = await crm.get_owner("northwind", OwnerRole.CSM)
            for key in ("save-northwind/task/call", "save-northwind/task/plan", "save-other/task/call"):
                await crm.create_task(
                    CrmTaskRequest(
                        key=key,
                        save=SAVE.model_copy(update={"save_id": key.split("/")[0]}),
                        owner=OwnerRole.CSM,
                        title="Call",
                        due_at=AT + timedelta(days=1),
                        at=AT,
                    ),
                    sam,
                )
            await crm.close_tasks(["save-northwind/task/plan"], "done", AT)
            moved = await crm.assign_owner(
                AssignOwnerRequest(save=SAVE, role=OwnerRole.CSM, owner_id="504", name="Aisha Khan", at=AT)
            )
            fresh = HubSpotCrm(HubSpotClient(TOKEN, fake.url))
            account = await fresh.get_account("northwind")
            await fresh.aclose()
        finally:
            await crm.aclose()
        owners = {t["properties"]["saves_key"]: t["properties"]["hubspot_owner_id"] for t in fake.records("tasks")}
    assert moved == 1
    assert account is not None and (account.csm, account.csm_id) == ("Aisha Khan", "504")
    assert owners == {
        "save-northwind/task/call": "504",
        "save-northwind/task/plan": "501",
        "save-other/task/call": "501",
    }
