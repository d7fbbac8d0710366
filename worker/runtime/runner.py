"""The worker: the save workflow and its activities, wired to the SQL store and SMTP."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.client import Client
from temporalio.worker import UnsandboxedWorkflowRunner, Worker, WorkflowRunner

from activities.archive_activities import ArchiveActivities
from activities.crm_activities import CrmActivities
from activities.crm_sync_activities import CrmSyncActivities
from activities.email_activities import EmailActivities
from activities.mailer import EmailRenderer, SmtpDelivery
from activities.opening_activities import OpeningActivities
from activities.playbook_activities import PlaybookActivities
from activities.scan_activities import ScanActivities
from activities.scan_rules import load_scan_rules
from activities.store.archive import Archive
from activities.store.db import create_schema, make_engine
from activities.store.outbox import Outbox
from activities.store.sql_crm import SqlCrm
from activities.triage_activities import TriageActivities, load_triage_rules
from playbook_defs.loader import load_playbooks
from worker.runtime.crm_choice import make_crm
from worker.runtime.heartbeat import HeartbeatInterceptor
from worker.runtime.settings import Settings
from workflows.crm_reconciler import CrmReconcilerWorkflow
from workflows.risk_scan import RiskScanWorkflow
from workflows.save import SaveWorkflow


@dataclass
class Services:
    """What the activities run against; tests build one over a temporary database."""

    engine: AsyncEngine
    crm: SqlCrm
    outbox: Outbox
    crm_activities: CrmActivities
    email_activities: EmailActivities
    playbook_activities: PlaybookActivities
    triage_activities: TriageActivities
    scan_activities: ScanActivities
    archive: Archive
    archive_activities: ArchiveActivities
    crm_sync_activities: CrmSyncActivities

    @property
    def opening_activities(self) -> OpeningActivities:
        return OpeningActivities(self.crm_activities, self.playbook_activities, self.triage_activities)

    def activities(self) -> list[Callable[..., Any]]:
        c, e, p = self.crm_activities, self.email_activities, self.playbook_activities
        return [
            c.fetch_account,
            c.create_task,
            c.create_tasks,
            c.open_in_crm,
            self.opening_activities.read_save_opening,
            c.close_tasks,
            c.set_risk_status,
            c.add_note,
            c.read_health,
            c.assign_owner,
            e.send_email,
            e.escalate,
            p.load_playbook,
            self.triage_activities.load_triage_rules,
            self.scan_activities.scan_batch,
            self.archive_activities.archive_save,
            self.crm_sync_activities.read_changes,
            self.crm_sync_activities.commit_cursor,
        ]


async def build_services(settings: Settings) -> Services:
    """Open the store (creating missing tables) and check every playbook loads; fail fast if not."""
    load_playbooks(settings.playbook_dir)
    load_triage_rules(settings.playbook_dir)
    load_scan_rules(settings.playbook_dir)
    engine = make_engine(settings.db_url)
    await create_schema(engine)
    crm = SqlCrm(engine)
    adapter = make_crm(settings, crm)  # SAVES_CRM: the store itself, or HubSpot
    outbox = Outbox(engine)
    smtp = settings.smtp
    email = EmailActivities(
        adapter,
        outbox,
        EmailRenderer(settings.playbook_dir / "templates"),
        SmtpDelivery(smtp) if smtp else None,
        settings.ops_email,
    )
    archive = Archive(engine)
    return Services(
        engine,
        crm,
        outbox,
        CrmActivities(adapter),
        email,
        PlaybookActivities(settings.playbook_dir),
        TriageActivities(settings.playbook_dir),
        ScanActivities(engine, crm, settings.playbook_dir),
        archive,
        ArchiveActivities(archive),
        CrmSyncActivities(adapter, engine, settings.crm),
    )


@dataclass(frozen=True)
class WorkerTuning:
    """How much the worker takes on at once (``SAVES_WORKER_*``; the README says why these values)."""

    max_cached_workflows: int = 500
    max_concurrent_workflow_tasks: int = 20
    max_concurrent_activities: int = 20
    workflow_pollers: int = 4
    activity_pollers: int = 4
    graceful_stop: timedelta = timedelta(seconds=10)
    """A stopping worker lets running activities finish for this long, then cancels them. Cancelling
    them at once, as Temporal does by default, left the store's SQLite connections waiting out their
    30 s busy timeout: a worker stopped while saves were opening took 30 s to stop."""

    @classmethod
    def from_settings(cls, settings: Settings) -> WorkerTuning:
        return cls(
            max_cached_workflows=settings.worker_max_cached_workflows,
            max_concurrent_workflow_tasks=settings.worker_max_concurrent_workflow_tasks,
            max_concurrent_activities=settings.worker_max_concurrent_activities,
            workflow_pollers=settings.worker_workflow_pollers,
            activity_pollers=settings.worker_activity_pollers,
            graceful_stop=timedelta(seconds=settings.worker_graceful_stop_seconds),
        )


def workflow_runner() -> WorkflowRunner:
    """How every worker and replayer runs the save engine: without Temporal's sandbox.

    The sandbox re-imports a workflow's modules into every run and wraps every activation and
    every payload in its import guards. Measured on a burst of new saves, that was a third of the
    worker's CPU and ~700 KB per cached save, and it guarded nothing of ours: the engine's modules
    must be shared anyway to be affordable. Determinism is kept by rule instead: the engine
    (``workflows/``, ``playbook_defs/``) may not read a clock, draw a random number or do I/O
    (``workflows/ruff.toml`` fails the build), and the replay gate replays every recorded save."""
    return UnsandboxedWorkflowRunner()


def build_worker(
    client: Client, task_queue: str, activities: Sequence[Callable[..., Any]], tuning: WorkerTuning | None = None
) -> Worker:
    t = tuning or WorkerTuning()
    return Worker(
        client,
        task_queue=task_queue,
        workflows=[SaveWorkflow, RiskScanWorkflow, CrmReconcilerWorkflow],
        activities=activities,
        interceptors=[HeartbeatInterceptor()],
        workflow_runner=workflow_runner(),
        max_cached_workflows=t.max_cached_workflows,
        max_concurrent_workflow_tasks=t.max_concurrent_workflow_tasks,
        max_concurrent_activities=t.max_concurrent_activities,
        max_concurrent_workflow_task_polls=t.workflow_pollers,
        max_concurrent_activity_task_polls=t.activity_pollers,
        graceful_shutdown_timeout=t.graceful_stop,
    )
