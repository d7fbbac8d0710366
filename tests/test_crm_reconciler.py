"""The CRM reconciler on the time-skipping server: work done in the CRM with no webhook at all
reaches the account's running save as a ``crm_event`` signal, once; the cursor moves only past
what was delivered."""

from __future__ import annotations

import uuid
from datetime import timedelta

from temporalio.api.enums.v1 import EventType

from activities.store import crm_inbound
from playbook_defs.vocabulary import CancellationReason, TriggerKind
from tests.harness import Harness
from workflows.contracts import CrmSyncReport, InboundEvent, InboundKind
from workflows.crm_reconciler import CrmReconcilerWorkflow
from workflows.save.crm_sync import SIGNAL as CRM_EVENT_SIGNAL


async def reconcile(h: Harness) -> CrmSyncReport:
    return await h.client.execute_workflow(
        CrmReconcilerWorkflow.run, id=f"crm-reconciler-{uuid.uuid4().hex[:6]}", task_queue=h.saves.task_queue
    )


async def crm_signals(h: Harness, account: str) -> list[InboundEvent]:
    events = []
    async for e in h.handle(account).fetch_history_events():
        if e.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED:
            attrs = e.workflow_execution_signaled_event_attributes
            if attrs.signal_name == CRM_EVENT_SIGNAL:
                (event,) = await h.client.data_converter.decode([attrs.input.payloads[0]], [InboundEvent])
                events.append(event)
    return events


async def test_work_done_in_the_crm_without_a_webhook_reaches_the_save_once(harness: Harness) -> None:
    h = harness
    state = await h.start("northwind", TriggerKind.CANCELLATION_REQUEST, reason=CancellationReason.PRODUCT)
    await h.sleep(hours=1)
    state = await h.state("northwind")
    task = next(t for t in state.tasks.values() if t.opened_at and t.crm_task_id)
    key = f"{state.save_id}/task/{task.id}"
    engine = h.services.engine
    now = await h.now()
    await crm_inbound.complete_task(engine, key, "Sam Ortiz", now)
    await crm_inbound.log_touch(engine, "northwind", "Priya Nair", now - timedelta(minutes=30), by="Sam Ortiz")
    await crm_inbound.log_touch(engine, "bluepeak", "Leo Martin", now, by="Sam Ortiz")  # no save open there

    first = await reconcile(h)
    assert (first.read, first.delivered, first.without_save) == (3, 2, 1)
    assert await reconcile(h) == first.model_copy(update={"read": 0, "delivered": 0, "without_save": 0})

    heard = await crm_signals(h, "northwind")
    assert [(e.kind, e.task_key, e.by) for e in heard] == [
        (InboundKind.TASK_COMPLETED, key, "Sam Ortiz"),
        (InboundKind.CUSTOMER_TOUCH, None, "Sam Ortiz"),
    ]
    assert heard[1].at == now - timedelta(minutes=30)
