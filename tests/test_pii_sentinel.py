"""PII sentinel: a full save whose CRM data and people's input carry marker names, emails and phone
numbers. What Temporal stores (every run's history, fetched raw by a client without the codec, and
each run's description) holds none of them; the same histories read with the codec show them all.
"""

from __future__ import annotations

import smtplib
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr
from temporalio.api.common.v1 import Payload, WorkflowExecution
from temporalio.api.failure.v1 import Failure
from temporalio.api.history.v1 import History
from temporalio.api.workflowservice.v1 import DescribeWorkflowExecutionRequest
from temporalio.client import Client, WorkflowHistory
from temporalio.testing import WorkflowEnvironment

from activities.store.crm_import import CrmFile, import_crm
from playbook_defs.vocabulary import CancellationReason, OutcomeKind, OwnerRole, TriggerKind
from tests import codec_keys
from tests.conftest import smtp_server
from tests.drive import work_every_step
from tests.harness import Harness, SmtpSink
from worker.runtime.codec import EncryptionCodec, decode_history
from worker.runtime.save_client import workflow_id
from worker.runtime.settings import Settings
from workflows.models import AddCommitment, CompleteTask, ReassignOwner, RecordOutcome
from workflows.save import SaveWorkflow

ACCOUNT = "sentinelco"
CSM = ("u-quorra", "Quorra Vexlander", "quorra.vexlander@ourco-mark.example.com")
NEW_CSM = ("u-zebulon", "Zebulon Frostquill", "zebulon.frostquill@ourco-mark.example.com")
CHAMPION = ("Ysolde Marrowby", "ysolde.marrowby@sentinel-mark.example.org")
MANAGER = ("Tamsin Oakenvale", "tamsin.oakenvale@ourco-mark.example.com")
PHONES = ("+1 555 0142 7781", "+44 20 7946 0321")
MARKERS = (*CSM[1:], *NEW_CSM[1:], *CHAMPION, *MANAGER, *PHONES)

CRM = {
    "team": {"cs_manager": {"id": "u-tamsin", "name": MANAGER[0], "email": MANAGER[1]}},
    "accounts": [
        {
            "id": ACCOUNT,
            "name": "Sentinel Freight",
            "tier": "enterprise",
            "arr": 150000,
            "health": 40,
            "usage_pct": 55,
            "fit": "good",
            "sponsor_status": "engaged",
            "owners": {"csm": {"id": CSM[0], "name": CSM[1], "email": CSM[2]}},
            "contacts": [{"name": CHAMPION[0], "email": CHAMPION[1], "role": "champion", "primary": True}],
            "attributes": {"switchboard": PHONES[0]},
        }
    ],
}


class RefusesTheChampionOnce(SmtpSink):
    """A mail server that turns away the first delivery to the champion for now (4xx), naming the
    address and a phone: the activity fails once with that message, then its retry is delivered."""

    def __init__(self) -> None:
        super().__init__()
        self.refused = 0

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, options: Any) -> str:
        if address == CHAMPION[1] and not self.refused:
            self.refused += 1
            return f"450 mailbox busy for {address}; call {PHONES[1]}"  # temporary: the step retries
        envelope.rcpt_tos.append(address)
        return "250 OK"


def _bytes(history: WorkflowHistory) -> bytes:
    """Everything in a history: protobuf keeps strings and payload bytes as they are (JSON would base64 them)."""
    return History(events=history.events).SerializeToString()


async def _every_run(client: Client, wf_id: str) -> list[WorkflowHistory]:
    runs = [await client.get_workflow_handle(wf_id).fetch_history()]
    while previous := runs[0].events[0].workflow_execution_started_event_attributes.continued_execution_run_id:
        runs.insert(0, await client.get_workflow_handle(wf_id, run_id=previous).fetch_history())
    return runs


async def _drive(h: Harness) -> None:
    await import_crm(h.services.engine, CrmFile.model_validate(CRM))
    await h.trigger(
        ACCOUNT,
        TriggerKind.CANCELLATION_REQUEST,
        reason=CancellationReason.PRODUCT,
        note=f"{CHAMPION[0]} phoned from {PHONES[0]}",
        reported_by=CSM[1],
        signals={"caller": CHAMPION[1]},
    )
    await h.wait_open(ACCOUNT)
    await h.act(
        ACCOUNT,
        SaveWorkflow.reassign_owner,
        ReassignOwner(owner_id=NEW_CSM[0], name=NEW_CSM[1], email=NEW_CSM[2], reason=f"cover: {PHONES[1]}", by=CSM[1]),
    )
    await h.act(
        ACCOUNT,
        SaveWorkflow.add_commitment,
        AddCommitment(
            what=f"Weekly call with {CHAMPION[0]}", owner=OwnerRole.CSM, due_in=timedelta(days=3), by=MANAGER[0]
        ),
    )
    await work_every_step(h, ACCOUNT)
    await h.act(
        ACCOUNT,
        SaveWorkflow.record_outcome,
        RecordOutcome(kind=OutcomeKind.LOST, reason=f"{CHAMPION[0]} chose a competitor", by=NEW_CSM[1]),
    )
    await h.wait_in_stage(ACCOUNT, "exit")
    await h.act(ACCOUNT, SaveWorkflow.complete_task, CompleteTask(task_id="exit_interview", by=MANAGER[0]))
    await h.result(ACCOUNT)


async def test_a_failure_message_naming_a_person_is_stored_encrypted() -> None:
    """The bounce above, as the worker's converter turns it into what Temporal stores (the time-skipping
    server keeps no last failure of a retried activity in the history, so the save test cannot see it)."""
    bounce = smtplib.SMTPRecipientsRefused({CHAMPION[1]: (450, f"mailbox busy; call {PHONES[1]}".encode())})
    failure = Failure()
    await codec_keys.converter().encode_failure(bounce, failure)
    assert failure.message == "Encoded failure"
    assert [m for m in (CHAMPION[1], PHONES[1]) if m.encode() in failure.SerializeToString()] == []
    back = await codec_keys.converter().decode_failure(failure)
    assert CHAMPION[1] in str(back) and PHONES[1] in str(back)


async def test_temporal_stores_no_marker_and_the_codec_shows_every_one(
    time_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    sink = RefusesTheChampionOnce()
    with smtp_server(sink):
        settings = Settings(
            data_dir=tmp_path / "saves",
            smtp_host="127.0.0.1",
            smtp_port=sink.port,
            email_from="Customer Success <cs@ourco.example.com>",
            encryption_keys=SecretStr(codec_keys.TEST_KEYS),
        )
        async with Harness.running(time_env, settings, sink) as h:
            await _drive(h)
            archived = await h.services.archive.records(account_id=ACCOUNT)
            assert len(archived) == 1
            kept = await h.services.archive.history(archived[0].save_id)
    assert sink.refused == 1 and sink.to(CHAMPION[1])

    plain = await Client.connect(time_env.client.service_client.config.target_host)  # no codec: what the cluster has
    wf_id = workflow_id(ACCOUNT)
    runs = await _every_run(plain, wf_id)
    assert len(runs) >= 2  # the save and its exit
    stored = b"".join(_bytes(run) for run in runs)
    for run in runs:
        described = await plain.workflow_service.describe_workflow_execution(
            DescribeWorkflowExecutionRequest(
                namespace=plain.namespace, execution=WorkflowExecution(workflow_id=wf_id, run_id=run.run_id)
            )
        )  # search attributes, memo, static summary and details, pending activities
        stored += described.SerializeToString()
    leaked = [m for m in MARKERS if m.encode() in stored or m.lower().encode() in stored.lower()]
    assert leaked == [], f"Temporal stores {leaked} in clear"

    codec = EncryptionCodec(codec_keys.ring())
    readable = b"".join([_bytes(await decode_history(run, codec)) for run in runs])
    never_handed_over = {CSM[2]}  # the first CSM is never emailed, so no payload carries that address
    assert [m for m in MARKERS if m.encode() not in readable and m not in never_handed_over] == []

    # The archive keeps the histories as they came: encrypted, readable with the keys.
    assert kept is not None
    archived_runs = [WorkflowHistory.from_json(wf_id, run) for run in kept["runs"]]
    archived_bytes = b"".join(_bytes(run) for run in archived_runs)
    assert [m for m in MARKERS if m.encode() in archived_bytes] == []
    archived_readable = b"".join([_bytes(await decode_history(run, codec)) for run in archived_runs])
    assert CHAMPION[1].encode() in archived_readable


def _user_metadata(run: WorkflowHistory) -> list[Payload]:
    """Summaries and details of the run, the workflow's timers and its activities."""
    found = []
    for event in run.events:
        if event.HasField("user_metadata"):
            found += [p for p in (event.user_metadata.summary, event.user_metadata.details) if p.data]
    return found


@pytest.mark.xfail(
    strict=True,
    reason="engine summaries still carry names and typed text: the owner reassignment's activity summary "
    "(the new owner), the commitment's CRM-task summary, its 'Due:' timer and escalation summaries (the "
    "commitment's text); they change in workflows/save/ once the engine split has landed",
)
async def test_summaries_and_details_name_no_one(time_env: WorkflowEnvironment, tmp_path: Path) -> None:
    """Summaries and details are what the UI lists for everyone: ids, roles, enums, dates, the company."""
    sink = SmtpSink()
    with smtp_server(sink):
        settings = Settings(
            data_dir=tmp_path / "saves",
            smtp_host="127.0.0.1",
            smtp_port=sink.port,
            encryption_keys=SecretStr(codec_keys.TEST_KEYS),
        )
        async with Harness.running(time_env, settings, sink) as h:
            await import_crm(h.services.engine, CrmFile.model_validate(CRM))
            await h.trigger(ACCOUNT, TriggerKind.CANCELLATION_REQUEST, reason=CancellationReason.PRODUCT)
            await h.wait_open(ACCOUNT)
            await h.act(
                ACCOUNT,
                SaveWorkflow.reassign_owner,
                ReassignOwner(owner_id=NEW_CSM[0], name=NEW_CSM[1], email=NEW_CSM[2], by=CSM[1]),
            )
            await h.act(
                ACCOUNT,
                SaveWorkflow.add_commitment,
                AddCommitment(what=f"Call {CHAMPION[0]}", owner=OwnerRole.CSM, due_in=timedelta(days=3)),
            )
            await h.sleep(days=4)  # the commitment is overdue and escalated
            details = await h.saves.details(ACCOUNT)
            assert "**Overdue**" in details
            assert [m for m in MARKERS if m in details] == []
            converter = h.client.data_converter
            texts = [details]
            for run in await _every_run(h.client, workflow_id(ACCOUNT)):
                texts += [str(t) for t in await converter.decode(_user_metadata(run), [str] * len(_user_metadata(run)))]
            described = await h.client.workflow_service.describe_workflow_execution(
                DescribeWorkflowExecutionRequest(
                    namespace=h.client.namespace, execution=WorkflowExecution(workflow_id=workflow_id(ACCOUNT))
                )
            )
            static = described.execution_config.user_metadata
            given = [p for p in (static.summary, static.details) if p.data]  # the test server may not keep them
            texts += [str(t) for t in await converter.decode(given, [str] * len(given))]
    named = sorted({m for m in MARKERS for t in texts if m in t})
    assert named == [], f"summaries or details name {named}: " + repr([t for t in texts if any(m in t for m in named)])
