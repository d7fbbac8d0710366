"""The save engine: one workflow per account that interprets any playbook definition.

A run covers one phase: the save itself (investigation, plan, intervention, awaiting the
outcome), the 90-day recovery after a saved outcome, or the exit after a lost one. Each phase
ends in continue-as-new, which keeps every run's history short. Every timer and activity is
derived from :class:`SaveState`, so a run can start from any state another run left.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine
from datetime import datetime, timedelta
from typing import Any, NoReturn, TypeVar

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities.archive_activities import ArchiveActivities
    from activities.crm_activities import CrmActivities
    from activities.email_activities import EmailActivities
    from activities.playbook_activities import PlaybookActivities
    from activities.triage_activities import TriageActivities
    from playbook_defs.durations import format_duration
    from playbook_defs.schema import (
        CUSTOMER,
        EscalationLevel,
        Recipient,
        RecoveryCheck,
        Step,
        StepKind,
    )
    from playbook_defs.triage_rules import SavePath
    from playbook_defs.vocabulary import (
        STEP_STAGES,
        OutcomeKind,
        OwnerRole,
        RiskColour,
        Stage,
        TriggerKind,
    )
    from workflows import rules, triage, wording
    from workflows.contracts import (
        AssignOwnerRequest,
        CloseTasksRequest,
        CrmTaskRequest,
        EmailRequest,
        EscalationRequest,
        NoteRequest,
        PlaybookRequest,
        RiskStatusRequest,
        SaveRef,
    )
    from workflows.details import current_details
    from workflows.models import (
        AddCommitment,
        AutomatedStatus,
        Commitment,
        CommitmentStatus,
        CompleteTask,
        EscalationRecord,
        FlagHelp,
        FulfilCommitment,
        HelpRequest,
        Outcome,
        OwnerChange,
        PreviousSave,
        ReassignOwner,
        RecordOutcome,
        RecordRootCause,
        RecoveryState,
        Relapse,
        Repeating,
        RootCause,
        SaveInput,
        SaveResult,
        SaveState,
        Task,
        TaskSource,
        TaskStatus,
        Trigger,
        TriggerRecord,
    )
    from workflows.postmortem import ArchiveRequest
    from workflows.triage_models import OverrideTriage, TriageDecision

R = TypeVar("R")
A = TypeVar("A")

ACTIVITY_TIMEOUT = timedelta(seconds=30)
EMAIL_TIMEOUT = timedelta(seconds=90)
HEARTBEAT_TIMEOUT = timedelta(seconds=10)
"""A worker that dies mid-activity is noticed this fast and the attempt retried on another worker
(activities heartbeat through ``worker.heartbeat``); without it the retry waits the full timeout."""
RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=5),
)
"""Retry until it works: a CRM or mail server that is down must delay a step, never drop it.
Data that can never succeed raises a non-retryable error in the activity itself."""
ROLLOVER_EVENTS = 1500
"""Continue as new mid-phase once a run's history reaches this many events (a save left open for months)."""
SAVE_STAGES = (*STEP_STAGES, Stage.AWAITING_OUTCOME)
MAX_TRIGGERS = 200
"""Triggers kept on one save; beyond this only a count grows, so a noisy source cannot bloat the state."""


def _rejected(message: str) -> ApplicationError:
    return ApplicationError(message, type="InvalidRequest", non_retryable=True)


@workflow.defn(name="Save")
class SaveWorkflow:
    """One account's save: tasks, emails, escalations, commitments, outcome and recovery."""

    def __init__(self) -> None:
        self._state: SaveState | None = None
        self._early_triggers: list[Trigger] = []
        self._background: list[asyncio.Task[None]] = []
        self._crash: BaseException | None = None
        self._inflight = 0
        self._stopping = False
        self._accepting = False
        self._published: dict[str, Any] = {}
        self._period_over = False

    @property
    def s(self) -> SaveState:
        if self._state is None:
            raise _rejected("the save is still opening; try again in a moment")
        return self._state

    # --- phases -------------------------------------------------------------------------------

    @workflow.run
    async def run(self, inp: SaveInput) -> SaveResult:
        if inp.state is None:
            await self._open(inp)
        else:
            self._state = inp.state
            self._state.run_number += 1
        self._publish()
        if triage.holding(self.s.triage):
            await self._triage_hold()
        if self.s.stage is Stage.RECOVERY:
            return await self._recovery_phase()
        if self.s.stage is Stage.EXIT:
            return await self._exit_phase()
        return await self._save_phase()

    async def _open(self, inp: SaveInput) -> None:
        trigger = inp.trigger
        account = await self._act(CrmActivities.fetch_account, trigger.account_id, "Read the account from the CRM")
        playbook = await self._act(
            PlaybookActivities.load_playbook,
            PlaybookRequest(playbook_id=trigger.playbook, kind=trigger.kind, reason=trigger.reason),
            "Load the playbook for this trigger",
        )
        triage_rules = await self._act(TriageActivities.load_triage_rules, trigger.account_id, "Load the triage rules")
        self._state = rules.new_state(workflow.info().run_id, account, playbook, trigger, workflow.now(), inp.previous)
        self._state.triage = triage.decide(triage_rules, account, trigger, workflow.now())
        self._publish()
        for early in self._early_triggers:
            self._record_trigger(early)
        why = f"{playbook.name} opened on a {trigger.kind.value.replace('_', ' ')} signal"
        if inp.previous is not None:
            why += f" (reopened: {inp.previous.reason})"
        await asyncio.gather(
            self._set_risk(RiskColour.RED, why),
            self._note("opened", why),
            self._note("triage", triage.summary(self._state.triage)),
        )
        workflow.logger.info("save opened", extra=self._log_extra())

    async def _save_phase(self) -> SaveResult:
        s = self.s
        for step in s.playbook.steps:
            task, auto = s.tasks.get(step.id), s.automated.get(step.id)
            if (task and task.is_active) or (auto and auto.status is AutomatedStatus.PENDING):
                self._spawn(self._run_step(step))
        self._spawn_carried_over()
        cadence = s.playbook.cadence
        self._spawn(
            self._repeat(
                s.customer_updates, cadence.customer_update_every, "Weekly update to customer", self._customer_update
            )
        )
        self._spawn(
            self._repeat(
                s.internal_status,
                cadence.internal_status_every,
                f"Weekly internal status to {wording.role(cadence.internal_status_to)}",
                self._internal_status,
            )
        )
        self._spawn(
            self._chase(
                "outcome",
                "Outcome decision",
                OwnerRole.CSM,
                s.outcome_watch.due_at,
                s.playbook.outcome.escalation,
                lambda: s.outcome is not None,
                self._outcome_overdue,
            )
        )
        self._accepting = True
        await self._wait_main(lambda: s.outcome is not None or self._rollover_due() or triage.exit_chosen(s.triage))
        await self._stop_background()
        if s.outcome is None and triage.exit_chosen(s.triage):
            await self._exit_by_triage()
        if s.outcome is None:
            await self._continue(SaveInput(trigger=s.triggers[0].trigger, state=s))
        now = workflow.now()
        steps_left = [t for t in s.tasks.values() if t.source is TaskSource.STEP and t.is_active]
        if s.outcome.kind is OutcomeKind.LOST:
            steps_left = [t for t in s.tasks.values() if t.is_active]
            s.exit_started_at = now
        else:
            plan = s.playbook.recovery
            s.recovery = RecoveryState(
                started_at=now,
                ends_at=now + plan.duration,
                close_by=now + plan.duration + plan.close_grace,
                touchpoints=Repeating(next_at=now + plan.touchpoint_every),
                value_reports=Repeating(next_at=now + plan.value_report_every),
            )
        for task in steps_left:
            task.status = TaskStatus.CANCELLED
        outcome = s.outcome
        text = (
            f"Outcome: {outcome.kind.value.replace('_', ' ')} ({outcome.reason}); "
            f"ARR retained {outcome.arr_retained:,.0f}"
        )
        jobs = [self._sync_crm_tasks(), self._note("outcome", text)]
        if s.recovery is not None:
            jobs.append(self._set_risk(RiskColour.YELLOW, "Saved; 90-day recovery starts"))
        await asyncio.gather(*jobs)
        await self._continue(SaveInput(trigger=s.triggers[0].trigger, state=s))

    async def _recovery_phase(self) -> SaveResult:
        s = self.s
        r = s.recovery
        assert r is not None
        plan = s.playbook.recovery
        self._spawn_carried_over()
        for check in plan.checks:
            self._spawn(self._run_check(check))
        self._spawn(
            self._repeat(r.touchpoints, plan.touchpoint_every, "Weekly touchpoint", self._touchpoint, until=r.ends_at)
        )
        self._spawn(
            self._repeat(
                r.value_reports, plan.value_report_every, "Monthly value report", self._value_report, until=r.ends_at
            )
        )
        self._spawn(self._end_of_recovery_period(r.ends_at))
        self._accepting = True
        finished = await self._wait_main(
            lambda: r.relapse is not None or self._rollover_due() or (self._period_over and rules.check_tasks_done(s)),
            until=r.close_by,
            summary="Recovery closes even if a check is still open",
        )
        await self._stop_background()
        if r.relapse is not None:
            await self._reopen(r.relapse)
        if not finished or (self._period_over and rules.check_tasks_done(s)):
            return await self._close(RiskColour.GREEN, "recovered", recovered=True)
        return await self._continue(SaveInput(trigger=s.triggers[0].trigger, state=s))

    async def _exit_phase(self) -> SaveResult:
        s = self.s
        plan = s.playbook.exit
        assert s.exit_started_at is not None
        task = s.tasks.get("exit_interview")
        if task is None:
            task = Task(
                id="exit_interview",
                title=f"Exit interview with {s.account.name}",
                source=TaskSource.EXIT_INTERVIEW,
                owner=plan.owner,
                due_within=plan.due_within,
                ladder=plan.escalation,
                guidance="Learn why they leave and what would have kept them; part on good terms.",
            )
            s.tasks[task.id] = task
            template = plan.template if s.outcome is not None or s.triage is None else s.triage.farewell_template
            await self._email(template, CUSTOMER, "exit/invitation", {}, "Exit interview invitation to customer")
        exit_task = task
        self._spawn(self._run_task(exit_task, opens_at=s.exit_started_at))
        self._accepting = True
        finished = await self._wait_main(
            lambda: not exit_task.is_active or self._rollover_due(),
            until=s.exit_started_at + plan.close_after,
            summary="Close the lost save",
        )
        await self._stop_background()
        if finished and exit_task.is_active:
            return await self._continue(SaveInput(trigger=s.triggers[0].trigger, state=s))
        return await self._close(
            RiskColour.RED, "lost" if s.outcome is not None else triage.exit_reason(s.triage), recovered=None
        )

    async def _triage_hold(self) -> None:
        """An exit path waits out the override window (or a CS manager's review) before it sends
        anything; overridden to a save, the playbook's plan starts from now."""
        s = self.s
        decision = s.triage
        assert decision is not None
        await self._wait_until(decision.window_closes_at, lambda: decision.final, "Triage override window (CS manager)")
        now = workflow.now()
        decision.effort_started_at = now
        if decision.path is SavePath.EXIT:
            s.exit_started_at = now
            for task in s.tasks.values():
                task.status = TaskStatus.CANCELLED  # step tasks that never opened
        else:
            fresh = rules.new_state(s.save_id, s.account, s.playbook, s.triggers[0].trigger, now, s.previous)
            # The 48-hour rule still counts from the risk flag: triage must not hide the wait.
            self._state = fresh.model_copy(
                update={
                    "triggers": s.triggers,
                    "triggers_not_kept": s.triggers_not_kept,
                    "first_contact": s.first_contact,
                    "triage": decision,
                    "run_number": s.run_number,
                    "emails_sent": s.emails_sent,
                }
            )
        self._publish()

    async def _exit_by_triage(self) -> NoReturn:
        """A CS manager switched a running save to the exit path within the override window."""
        s = self.s
        assert s.triage is not None
        s.exit_started_at = workflow.now()
        for task in s.tasks.values():
            if task.is_active:
                task.status = TaskStatus.CANCELLED
        await asyncio.gather(self._sync_crm_tasks(), self._note("triage-exit", triage.summary(s.triage)))
        await self._continue(SaveInput(trigger=s.triggers[0].trigger, state=s))

    async def _close(self, risk: RiskColour, reason: str, recovered: bool | None) -> SaveResult:
        s = self.s
        for task in s.tasks.values():
            if task.is_active:
                task.status = TaskStatus.CANCELLED
        s.closed_at = workflow.now()
        s.closed_reason = reason
        if s.recovery is not None:
            s.recovery.completed = True
        await asyncio.gather(
            self._sync_crm_tasks(),
            self._set_risk(risk, f"Save closed: {reason}"),
            self._note("closed", f"Save closed: {reason}"),
        )
        self._publish()
        await self._archive("closed")
        await workflow.wait_condition(workflow.all_handlers_finished)
        workflow.logger.info("save closed", extra=self._log_extra(reason=reason))
        return SaveResult(
            save_id=s.save_id,
            account_id=s.account.account_id,
            playbook_id=s.playbook.id,
            outcome=s.outcome.kind if s.outcome else None,
            closed_reason=reason,
            recovered=recovered,
        )

    async def _reopen(self, relapse: Relapse) -> NoReturn:
        """A saved customer relapsed: this save ends and a new save run starts, linked to it."""
        s = self.s
        for task in s.tasks.values():
            if task.is_active:
                task.status = TaskStatus.CANCELLED
        await asyncio.gather(
            self._sync_crm_tasks(), self._note("relapse", f"Relapsed during recovery: {relapse.reason}")
        )
        await self._archive("reopened")
        previous = PreviousSave(
            save_id=s.save_id,
            run_id=workflow.info().run_id,
            playbook_id=s.playbook.id,
            outcome=s.outcome.kind if s.outcome else None,
            relapsed_at=relapse.at,
            reason=relapse.reason,
        )
        trigger = relapse.trigger or Trigger(
            trigger_id=f"relapse-{s.save_id}",
            account_id=s.account.account_id,
            kind=TriggerKind.HEALTH_DROP,
            playbook=s.playbook.id,
            source="recovery_check",
            note=relapse.reason,
            signals={
                "health": relapse.health if relapse.health is not None else -1,
                "threshold": s.playbook.recovery.relapse_health_below,
            },
        )
        workflow.logger.info("save relapsed", extra=self._log_extra(reason=relapse.reason))
        await self._continue(SaveInput(trigger=trigger, previous=previous))

    async def _archive(self, status: str) -> None:
        """Hook: the save ended; archive its post-mortem and history (they outlive Temporal's
        retention). Bounded retries: a broken archive must not keep a save from closing."""
        try:
            await workflow.execute_activity_method(
                ArchiveActivities.archive_save,
                ArchiveRequest(state=self.s, status=status),
                start_to_close_timeout=timedelta(minutes=2),
                retry_policy=RetryPolicy(initial_interval=timedelta(seconds=1), maximum_attempts=10),
                summary="Archive the post-mortem and the history of this save",
            )
        except ActivityError as exc:
            workflow.logger.warning(
                "archive failed; the history stays in Temporal until retention",
                extra=self._log_extra(error=str(exc.cause or exc)),
            )

    async def _continue(self, inp: SaveInput) -> NoReturn:
        self._publish()
        await workflow.wait_condition(workflow.all_handlers_finished)
        workflow.continue_as_new(inp)

    # --- steps and tasks ------------------------------------------------------------------------

    def _deps_done(self, step: Step) -> bool:
        s = self.s
        for dep in step.depends_on:
            if dep in s.tasks and s.tasks[dep].status is not TaskStatus.DONE:
                return False
            if dep in s.automated and s.automated[dep].status is not AutomatedStatus.DONE:
                return False
        return True

    async def _run_step(self, step: Step) -> None:
        """Open the step once its start offset has passed and its dependencies are done."""
        s = self.s
        await workflow.wait_condition(lambda: self._deps_done(step))
        await self._sleep_until(s.opened_at + step.start_after, f"Start: {step.title}")
        if step.kind is StepKind.TASK:
            await self._run_task(s.tasks[step.id], opens_at=self._scheduled_start(step))
            return
        auto = s.automated[step.id]
        if auto.status is not AutomatedStatus.PENDING:
            return
        if step.kind is StepKind.EMAIL:
            assert step.template is not None and step.to is not None
            await self._email(
                step.template, step.to, f"step/{step.id}", {}, f"Email to {wording.role(step.to)}: {step.title}"
            )
        else:
            assert step.risk is not None
            await self._set_risk(step.risk, step.title)
        auto.status = AutomatedStatus.DONE
        auto.done_at = self._scheduled_start(step)
        self._publish()

    def _scheduled_start(self, step: Step) -> datetime:
        """When a step was due to open: its offset, or its last dependency's completion if later."""
        s = self.s
        moments = [s.opened_at + step.start_after]
        for dep in step.depends_on:
            done_at = (
                s.tasks[dep].done_at if dep in s.tasks else (s.automated[dep].done_at if dep in s.automated else None)
            )
            if done_at is not None:
                moments.append(done_at)
        return max(moments)

    async def _run_task(self, task: Task, opens_at: datetime | None = None) -> None:
        """Create the CRM task, chase it up its ladder while overdue, close it when done.

        ``opens_at`` is when the task was due to open; its deadline counts from then, so a
        worker that was down for an hour does not give the owner an extra hour.
        """
        if task.status is TaskStatus.PENDING:
            await self._open_task(task, opens_at or workflow.now())
        if task.status is TaskStatus.OPEN:
            assert task.due_at is not None
            await self._chase(
                f"task/{task.id}",
                task.title,
                task.owner,
                task.due_at,
                task.ladder,
                lambda: not task.is_active,
                lambda: self._task_overdue(task),
            )
        if task.status is TaskStatus.DONE and task.crm_task_id is not None:
            await self._close_crm(done=[self._key(f"task/{task.id}")])

    async def _open_task(self, task: Task, opens_at: datetime) -> None:
        s = self.s
        now = workflow.now()
        task.opened_at = opens_at
        first_contact = task.id == s.first_contact.step_id
        task.due_at = s.first_contact.deadline if first_contact else opens_at + task.due_within
        task.status = TaskStatus.OPEN
        self._publish()
        ref = await self._act(
            CrmActivities.create_task,
            CrmTaskRequest(
                key=self._key(f"task/{task.id}"),
                save=self._ref,
                owner=task.owner,
                title=task.title,
                body=task.guidance,
                due_at=task.due_at,
                at=now,
            ),
            f"CRM task for {wording.role(task.owner)}: {task.title}",
        )
        task.crm_task_id = ref.task_id

    def _task_overdue(self, task: Task) -> None:
        task.overdue = True
        fc = self.s.first_contact
        if task.id == fc.step_id and fc.at is None:
            fc.kept = False

    def _outcome_overdue(self) -> None:
        self.s.outcome_watch.overdue = True

    async def _chase(
        self,
        item: str,
        title: str,
        owner: OwnerRole,
        due_at: datetime,
        ladder: tuple[EscalationLevel, ...],
        is_done: Callable[[], bool],
        on_overdue: Callable[[], None],
    ) -> None:
        """Wait for ``is_done``; past ``due_at`` mark it overdue and climb the escalation ladder."""
        fc = self.s.first_contact
        summary = (
            wording.first_contact_window(fc.limit, title) if item == f"task/{fc.step_id}" else wording.due(title, owner)
        )
        if await self._wait_until(due_at, is_done, summary):
            return
        on_overdue()
        self._publish()
        fired = len(self.s.escalations_for(item))
        for level_no, level in enumerate(ladder, start=1):
            if level_no <= fired:
                continue
            if await self._wait_until(due_at + level.after, is_done, wording.escalate(title, level.to)):
                return
            await self._escalate(item, title, owner, due_at, level_no, level)
        await workflow.wait_condition(is_done)

    async def _escalate(
        self, item: str, title: str, owner: OwnerRole, due_at: datetime, level_no: int, level: EscalationLevel
    ) -> None:
        now = workflow.now()
        await self._act(
            EmailActivities.escalate,
            EscalationRequest(
                key=self._key(f"{item}/escalation/{level_no}"),
                save=self._ref,
                to=level.to,
                level=level_no,
                item=title,
                item_owner=owner,
                due_at=due_at,
                overdue_by=format_duration(now - due_at),
                context={"save": self._digest(now)},
                at=now,
            ),
            wording.escalate(title, level.to, level_no),
            EMAIL_TIMEOUT,
        )
        self.s.escalations.append(
            EscalationRecord(item=item, title=title, level=level_no, to=level.to, at=now, overdue_by=now - due_at)
        )
        self.s.emails_sent += 1
        self._publish()
        workflow.logger.info("escalated", extra=self._log_extra(item=item, level=level_no))

    # --- commitments, help, carried-over work ---------------------------------------------------

    def _spawn_carried_over(self) -> None:
        """Restart chasing what outlives a phase: help and approval tasks, open commitments."""
        s = self.s
        for task in s.tasks.values():
            if task.source is TaskSource.APPROVAL and task.is_active:
                self._spawn(self._run_task(task))
        for request in s.help_requests:
            if s.tasks[request.task_id].is_active:
                self._spawn(self._run_help(request))
        for commitment in s.commitments:
            if commitment.status in (CommitmentStatus.OPEN, CommitmentStatus.AWAITING_APPROVAL):
                self._spawn(self._run_commitment(commitment))
        for change in s.owner_changes:
            if not change.synced:
                self._spawn(self._sync_owner(change))

    async def _run_commitment(self, c: Commitment) -> None:
        await workflow.wait_condition(lambda: c.status is not CommitmentStatus.AWAITING_APPROVAL)
        if c.status is not CommitmentStatus.OPEN:
            return
        key = self._key(f"commitment/{c.id}")
        if c.crm_task_id is None:
            ref = await self._act(
                CrmActivities.create_task,
                CrmTaskRequest(
                    key=key,
                    save=self._ref,
                    owner=c.owner,
                    title=f"Commitment to the customer: {c.what}",
                    body="Promised to the customer; deliver it by the due date.",
                    due_at=c.due_at,
                    at=workflow.now(),
                ),
                f"CRM task for commitment {c.id}: {c.what}",
            )
            c.crm_task_id = ref.task_id
        await self._chase(
            f"commitment/{c.id}",
            c.what,
            c.owner,
            c.due_at,
            self.s.playbook.commitment_escalation,
            lambda: c.status is not CommitmentStatus.OPEN,
            lambda: setattr(c, "overdue", True),
        )
        await self._close_crm(done=[key])

    async def _run_help(self, request: HelpRequest) -> None:
        task = self.s.tasks[request.task_id]
        if task.status is TaskStatus.PENDING:
            await self._email(
                "help_needed",
                request.role,
                f"help/{request.id}",
                {"what": request.what, "requested_by": request.requested_by or "the CSM"},
                f"Help needed from {wording.role(request.role)}",
            )
        await self._run_task(task, opens_at=request.at)

    # --- cadence and recovery -------------------------------------------------------------------

    async def _repeat(
        self,
        rep: Repeating,
        every: timedelta,
        label: str,
        action: Callable[[int], Awaitable[None]],
        until: datetime | None = None,
    ) -> None:
        while until is None or rep.next_at <= until:
            number = rep.count + 1
            await self._sleep_until(rep.next_at, f"{label} #{number}")
            await action(number)
            rep.count = number
            rep.next_at += every
            self._publish()

    async def _customer_update(self, number: int) -> None:
        s = self.s
        since = s.customer_updates.next_at - s.playbook.cadence.customer_update_every
        await self._email(
            s.playbook.cadence.customer_update_template,
            CUSTOMER,
            f"weekly_update/{number}",
            {"number": number, "since": rules.when(since)},
            f"Weekly update #{number} to customer",
        )

    async def _internal_status(self, number: int) -> None:
        cadence = self.s.playbook.cadence
        await self._email(
            cadence.internal_status_template,
            cadence.internal_status_to,
            f"internal_status/{number}",
            {"number": number},
            f"Weekly internal status #{number} to {wording.role(cadence.internal_status_to)}",
        )

    async def _end_of_recovery_period(self, ends_at: datetime) -> None:
        await self._sleep_until(ends_at, "End of the recovery period")
        self._period_over = True

    async def _health_relapsed(self, occasion: str) -> bool:
        """Read account health; below the playbook's threshold the save relapses."""
        s = self.s
        r = s.recovery
        assert r is not None
        reading = await self._act(CrmActivities.read_health, s.account.account_id, f"Read account health ({occasion})")
        r.readings.append(reading.model_copy(update={"read_at": workflow.now()}))
        threshold = s.playbook.recovery.relapse_health_below
        if reading.health is not None and reading.health < threshold and r.relapse is None:
            r.relapse = Relapse(
                at=workflow.now(),
                health=reading.health,
                reason=f"health {reading.health} below {threshold} at {occasion}",
            )
        self._publish()
        return r.relapse is not None

    async def _run_check(self, check: RecoveryCheck) -> None:
        s = self.s
        r = s.recovery
        assert r is not None
        existing = s.tasks.get(check.id)
        if existing is not None and not existing.is_active:
            return
        if existing is None:
            await self._sleep_until(r.started_at + check.at, check.title)
            if await self._health_relapsed(check.title):
                return
            s.tasks[check.id] = Task(
                id=check.id,
                title=check.title,
                source=TaskSource.RECOVERY_CHECK,
                owner=check.owner,
                due_within=check.due_within,
                ladder=check.escalation if check.escalation is not None else s.playbook.default_escalation,
            )
            if check.template is not None:
                await self._email(
                    check.template, CUSTOMER, f"recovery/{check.id}", {}, f"{check.title}: invitation to customer"
                )
        await self._run_task(s.tasks[check.id], opens_at=r.started_at + check.at)

    async def _touchpoint(self, number: int) -> None:
        s = self.s
        if await self._health_relapsed(f"weekly touchpoint #{number}"):
            return
        plan = s.playbook.recovery
        task = Task(
            id=f"touchpoint_{number}",
            title=f"Weekly touchpoint #{number} with {s.account.name}",
            source=TaskSource.TOUCHPOINT,
            owner=plan.touchpoint_owner,
            due_within=plan.touchpoint_due_within,
        )
        s.tasks[task.id] = task
        assert s.recovery is not None
        self._spawn(self._run_task(task, opens_at=s.recovery.touchpoints.next_at))

    async def _value_report(self, number: int) -> None:
        s = self.s
        assert s.recovery is not None
        readings = s.recovery.readings
        await self._email(
            s.playbook.recovery.value_report_template,
            CUSTOMER,
            f"value_report/{number}",
            {"number": number, "health": readings[-1].health if readings else None},
            f"Monthly value report #{number} to customer",
        )

    # --- activities -----------------------------------------------------------------------------

    @property
    def _ref(self) -> SaveRef:
        s = self.s
        return SaveRef(account_id=s.account.account_id, save_id=s.save_id, playbook_id=s.playbook.id)

    def _key(self, path: str) -> str:
        """Idempotency key of a side effect: the save and the step, never the run id."""
        return f"{self.s.save_id}/{path}"

    async def _act(
        self, fn: Callable[[Any, A], Awaitable[R]], arg: A, summary: str, timeout: timedelta = ACTIVITY_TIMEOUT
    ) -> R:
        if self._stopping and asyncio.current_task() in self._background:
            raise asyncio.CancelledError("the phase is ending")  # no new side effect from a stopping step
        self._inflight += 1
        try:
            result: R = await workflow.execute_activity_method(
                fn,
                arg,
                start_to_close_timeout=timeout,
                heartbeat_timeout=HEARTBEAT_TIMEOUT,
                retry_policy=RETRY,
                summary=summary,
            )
            return result
        finally:
            self._inflight -= 1

    async def _email(self, template: str, to: Recipient, key: str, context: dict[str, Any], summary: str) -> None:
        s = self.s
        now = workflow.now()
        await self._act(
            EmailActivities.send_email,
            EmailRequest(
                key=self._key(f"email/{key}"),
                save=self._ref,
                template=template,
                to=to,
                context={"save": self._digest(now), **context},
                at=now,
            ),
            summary,
            EMAIL_TIMEOUT,
        )
        s.emails_sent += 1

    def _digest(self, now: datetime) -> dict[str, Any]:
        """What emails say about the save: progress over the last week, what is next and late."""
        return rules.progress_digest(self.s, now, since=now - timedelta(days=7))

    async def _set_risk(self, risk: RiskColour, reason: str) -> None:
        s = self.s
        await self._act(
            CrmActivities.set_risk_status,
            RiskStatusRequest(save=self._ref, risk=risk, reason=reason, at=workflow.now()),
            f"CRM risk status {risk.value}: {reason}",
        )
        s.risk = risk
        self._publish()

    async def _note(self, name: str, text: str) -> None:
        await self._act(
            CrmActivities.add_note,
            NoteRequest(key=self._key(f"note/{name}"), save=self._ref, text=text, at=workflow.now()),
            f"CRM timeline note: {name}",
        )

    async def _close_crm(self, done: list[str] | None = None, cancelled: list[str] | None = None) -> None:
        await self._act(
            CrmActivities.close_tasks,
            CloseTasksRequest(done=done or [], cancelled=cancelled or [], at=workflow.now()),
            "Close CRM tasks",
        )

    async def _sync_crm_tasks(self) -> None:
        """Bring every CRM task of this save in line with the state at a phase boundary."""
        s = self.s
        done = [self._key(f"task/{t.id}") for t in s.tasks.values() if t.status is TaskStatus.DONE]
        done += [self._key(f"commitment/{c.id}") for c in s.commitments if c.status is CommitmentStatus.FULFILLED]
        if s.outcome is not None:
            done.append(self._key("outcome"))
        cancelled = [self._key(f"task/{t.id}") for t in s.tasks.values() if t.status is TaskStatus.CANCELLED]
        if s.exit_started_at is not None or s.closed_at is not None:
            cancelled += [self._key(f"commitment/{c.id}") for c in s.commitments if c.status is CommitmentStatus.OPEN]
        await self._close_crm(done=done, cancelled=cancelled)

    # --- waiting --------------------------------------------------------------------------------

    async def _wait_until(self, at: datetime, done: Callable[[], bool], summary: str) -> bool:
        """True if ``done`` holds before ``at``; False once ``at`` has passed without it."""
        if done():
            return True
        remaining = at - workflow.now()
        if remaining <= timedelta(0):
            return False
        try:
            await workflow.wait_condition(done, timeout=remaining, timeout_summary=summary)
        except TimeoutError:
            return done()
        return True

    async def _sleep_until(self, at: datetime, summary: str) -> None:
        remaining = at - workflow.now()
        if remaining > timedelta(0):
            await workflow.sleep(remaining, summary=summary)

    async def _wait_main(
        self, condition: Callable[[], bool], until: datetime | None = None, summary: str | None = None
    ) -> bool:
        """Wait for ``condition`` (True) or ``until`` (False); a crashed step fails the workflow task."""

        def ready() -> bool:
            return self._crash is not None or condition()

        if until is None:
            await workflow.wait_condition(ready)
        elif not await self._wait_until(until, ready, summary or "Phase deadline"):
            return False
        if self._crash is not None:
            raise self._crash
        return True

    def _rollover_due(self) -> bool:
        info = workflow.info()
        return info.is_continue_as_new_suggested() or info.get_current_history_length() >= ROLLOVER_EVENTS

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(coro)
        task.add_done_callback(self._note_crash)
        self._background.append(task)

    def _note_crash(self, task: asyncio.Task[None]) -> None:
        if not task.cancelled() and task.exception() is not None and self._crash is None:
            self._crash = task.exception()

    def _spawn_from_handler(self, coro: Coroutine[Any, Any, None]) -> None:
        """Start work an update added, if a phase is running; otherwise the next phase starts it
        (see :meth:`_spawn_carried_over`), so nothing is chased twice."""
        if self._accepting:
            self._spawn(coro)
        else:
            coro.close()

    async def _stop_background(self) -> None:
        """Let running activities finish, then stop every timer and waiting step of this phase.

        No activity is left in flight when the run continues as new or completes.
        """
        self._accepting = False
        self._stopping = True
        await workflow.wait_condition(lambda: self._inflight == 0)
        for task in self._background:
            task.cancel()
        await asyncio.gather(*self._background, return_exceptions=True)
        self._background.clear()
        self._stopping = False

    # --- visibility -----------------------------------------------------------------------------

    def _publish(self) -> None:
        """Refresh the stage, changed search attributes and the current details in the UI."""
        s = self.s
        now = workflow.now()
        s.stage = rules.current_stage(s)
        updates = []
        for key, value in rules.search_values(s, now).items():
            if self._published.get(key.name, ...) != value:
                self._published[key.name] = value
                updates.append(key.value_unset() if value is None else key.value_set(value))
        if updates:
            workflow.upsert_search_attributes(updates)
        workflow.set_current_details(current_details(s, now))

    def _log_extra(self, **more: Any) -> dict[str, Any]:
        s = self.s
        return {"account_id": s.account.account_id, "playbook": s.playbook.id, "save_id": s.save_id, **more}

    # --- signals, queries, updates --------------------------------------------------------------

    @workflow.signal(
        description="Another risk signal for this account: recorded on the running "
        "save, never a second save. During recovery it reopens the save."
    )
    def merge_trigger(self, trigger: Trigger) -> None:
        if self._state is None:
            self._early_triggers.append(trigger)
            return
        self._record_trigger(trigger)

    def _record_trigger(self, trigger: Trigger) -> None:
        s = self.s
        now = workflow.now()
        if any(r.trigger.trigger_id == trigger.trigger_id for r in s.triggers):
            return  # a redelivered event
        if len(s.triggers) < MAX_TRIGGERS:
            s.triggers.append(TriggerRecord(trigger=trigger, received_at=now, merged=True))
        else:
            s.triggers_not_kept += 1
        r = s.recovery
        if r is not None and r.relapse is None and not r.completed:
            r.relapse = Relapse(
                at=now, trigger=trigger, reason=f"new {trigger.kind.value.replace('_', ' ')} signal during recovery"
            )
        self._publish()

    @workflow.query(
        description="The whole save: playbook and version, stage, tasks with owners and "
        "due times, escalations fired, commitments, first contact and the "
        "48-hour result, outcome, recovery checks."
    )
    def state(self) -> SaveState:
        return self.s

    @workflow.query(description="Where the save stands, in plain words (markdown).")
    def details(self) -> str:
        return current_details(self.s, workflow.now())

    def _require_active(self) -> SaveState:
        s = self.s
        if s.stage is Stage.CLOSED:
            raise _rejected(f"the save closed on {rules.when(s.closed_at)} ({s.closed_reason})")
        if s.stage is Stage.TRIAGE and s.triage is not None:
            raise _rejected(
                f"triage chose the exit path; no save effort until "
                f"{rules.when(s.triage.window_closes_at)} unless a CS manager "
                f"overrides it (override_triage)"
            )
        return s

    @workflow.update(description="Mark a task done. Stops its escalation ladder.")
    def complete_task(self, request: CompleteTask) -> Task:
        task = self._complete(self.s.tasks[request.task_id], request.by, request.note, request.approved)
        self._publish()
        return task

    def _complete(self, task: Task, by: str | None, note: str, approved: bool = True) -> Task:
        s = self.s
        now = workflow.now()
        task.status = TaskStatus.DONE
        task.done_at = now
        task.done_by = by
        task.note = note
        if task.due_at is not None and now > task.due_at:
            task.overdue = True
        fc = s.first_contact
        if task.id == fc.step_id:
            fc.at = now
            fc.kept = now <= fc.deadline
        if task.commitment_id is not None:
            c = s.commitment(task.commitment_id)
            c.status = CommitmentStatus.OPEN if approved else CommitmentStatus.REJECTED
        return task

    @complete_task.validator
    def _check_complete_task(self, request: CompleteTask) -> None:
        s = self._require_active()
        task = s.tasks.get(request.task_id)
        if task is None:
            active = [t.id for t in s.tasks.values() if t.is_active]
            raise _rejected(f"unknown task {request.task_id!r}; open tasks: {', '.join(active) or 'none'}")
        if task.status is TaskStatus.DONE:
            raise _rejected(
                f"task {task.id!r} is already done "
                f"({rules.when(task.done_at)}{', by ' + task.done_by if task.done_by else ''})"
            )
        if task.status is TaskStatus.CANCELLED:
            raise _rejected(f"task {task.id!r} was cancelled when the save moved on")

    @workflow.update(
        description="Record a promise made to the customer (what, owner, due). A "
        "discount above the playbook's threshold waits for approval."
    )
    def add_commitment(self, request: AddCommitment) -> Commitment:
        s = self.s
        now = workflow.now()
        due_at = request.due_at or now + (request.due_in or timedelta(0))
        policy = s.playbook.concessions
        needs_approval = (
            policy is not None
            and request.discount_pct is not None
            and request.discount_pct > policy.max_discount_pct_without_approval
        )
        c = Commitment(
            id=f"c{len(s.commitments) + 1}",
            what=request.what,
            owner=request.owner,
            due_at=due_at,
            made_at=now,
            made_by=request.by,
            discount_pct=request.discount_pct,
            status=CommitmentStatus.AWAITING_APPROVAL if needs_approval else CommitmentStatus.OPEN,
        )
        s.commitments.append(c)
        if needs_approval and policy is not None:
            approval = Task(
                id=f"approve_{c.id}",
                source=TaskSource.APPROVAL,
                owner=policy.approver,
                title=f"Approve {request.discount_pct:g}% discount: {request.what}",
                guidance=policy.guidance,
                due_within=policy.approval_due_within,
                ladder=s.playbook.default_escalation,
                commitment_id=c.id,
            )
            s.tasks[approval.id] = approval
            c.approval_task = approval.id
            self._spawn_from_handler(self._run_task(approval))
        self._spawn_from_handler(self._run_commitment(c))
        self._publish()
        return c

    @add_commitment.validator
    def _check_add_commitment(self, request: AddCommitment) -> None:
        s = self._require_active()
        if s.stage is Stage.EXIT:
            raise _rejected("the save was lost; no new commitments")
        if (request.due_at is None) == (request.due_in is None):
            raise _rejected("give exactly one of due_at or due_in")
        if request.due_at is not None and request.due_at <= workflow.now():
            raise _rejected(f"due_at {request.due_at.isoformat()} is in the past")
        if request.due_in is not None and request.due_in <= timedelta(0):
            raise _rejected("due_in must be longer than zero")

    @workflow.update(description="Mark a commitment delivered. Late delivery counts as broken.")
    def fulfil_commitment(self, request: FulfilCommitment) -> Commitment:
        s = self.s
        now = workflow.now()
        c = s.commitment(request.commitment_id)
        c.status = CommitmentStatus.FULFILLED
        c.fulfilled_at = now
        if now > c.due_at:
            c.overdue = True
        self._publish()
        return c

    @fulfil_commitment.validator
    def _check_fulfil_commitment(self, request: FulfilCommitment) -> None:
        s = self._require_active()
        known = {c.id: c for c in s.commitments}
        c = known.get(request.commitment_id)
        if c is None:
            raise _rejected(f"unknown commitment {request.commitment_id!r}; known: {', '.join(known) or 'none'}")
        if c.status is CommitmentStatus.AWAITING_APPROVAL:
            raise _rejected(f"commitment {c.id!r} is waiting for approval (task {c.approval_task})")
        if c.status is not CommitmentStatus.OPEN:
            raise _rejected(f"commitment {c.id!r} is already {c.status.value}")

    @workflow.update(description="Record the root cause found with the five whys.")
    def record_root_cause(self, request: RecordRootCause) -> RootCause:
        s = self.s
        now = workflow.now()
        s.root_cause = RootCause(
            whys=request.whys, category=request.category, summary=request.summary, recorded_by=request.by, at=now
        )
        for step in s.playbook.steps:
            task = s.tasks.get(step.id)
            if step.completed_by == "root_cause" and task is not None and task.is_active:
                self._complete(task, request.by, "root cause recorded")
        self._publish()
        return s.root_cause

    @record_root_cause.validator
    def _check_root_cause(self, request: RecordRootCause) -> None:
        self._require_active()

    @workflow.update(
        description="Flag that another team must help: a task with a deadline and "
        "an escalation ladder for that team's owner."
    )
    def flag_help(self, request: FlagHelp) -> HelpRequest:
        s = self.s
        number = len(s.help_requests) + 1
        task = Task(
            id=f"help_{number}",
            title=f"Help needed: {request.what}",
            source=TaskSource.HELP,
            owner=request.role,
            due_within=s.playbook.help_due_within,
            ladder=s.playbook.default_escalation,
            guidance=f"Requested by {request.by or 'the CSM'} for the {s.playbook.name}.",
        )
        s.tasks[task.id] = task
        help_request = HelpRequest(
            id=str(number),
            role=request.role,
            what=request.what,
            requested_by=request.by,
            at=workflow.now(),
            task_id=task.id,
        )
        s.help_requests.append(help_request)
        self._spawn_from_handler(self._run_help(help_request))
        self._publish()
        return help_request

    @flag_help.validator
    def _check_flag_help(self, request: FlagHelp) -> None:
        if self._require_active().stage is Stage.EXIT:
            raise _rejected("the save was lost; help can no longer be requested")

    @workflow.update(
        description="Record the outcome: saved, partially saved (with ARR retained) "
        "or lost, with a reason and the success criteria met."
    )
    def record_outcome(self, request: RecordOutcome) -> Outcome:
        s = self.s
        known = [c.id for c in s.playbook.outcome.success_criteria]
        if request.kind is OutcomeKind.LOST:
            retained = 0.0
        elif request.arr_retained is not None:
            retained = request.arr_retained
        else:
            retained = s.account.arr
        s.outcome = Outcome(
            kind=request.kind,
            reason=request.reason,
            arr_retained=retained,
            criteria_met=[c for c in known if c in request.criteria_met],
            criteria_missed=[c for c in known if c not in request.criteria_met],
            recorded_by=request.by,
            at=workflow.now(),
        )
        self._publish()
        return s.outcome

    @record_outcome.validator
    def _check_outcome(self, request: RecordOutcome) -> None:
        s = self._require_active()
        if s.outcome is not None:
            raise _rejected(f"the outcome was already recorded: {s.outcome.kind.value} on {rules.when(s.outcome.at)}")
        if s.stage is Stage.EXIT:
            raise _rejected(f"triage sent this save to the exit path ({triage.exit_reason(s.triage)})")
        known = [c.id for c in s.playbook.outcome.success_criteria]
        unknown = [c for c in request.criteria_met if c not in known]
        if unknown:
            raise _rejected(f"unknown success criteria {unknown}; this playbook's are {known}")
        if request.kind is OutcomeKind.PARTIALLY_SAVED:
            if not request.arr_retained:
                raise _rejected("a partially saved outcome needs arr_retained (the ARR kept)")
            if request.arr_retained >= s.account.arr:
                raise _rejected(
                    f"arr_retained {request.arr_retained:,.0f} is not below the "
                    f"account's ARR {s.account.arr:,.0f}; record it as saved"
                )
        if request.kind is OutcomeKind.LOST and request.arr_retained:
            raise _rejected("a lost outcome retains no ARR; leave arr_retained out")

    @workflow.update(
        name="override_triage",
        description="A CS manager reviews the triage within its window: a new zone "
        "(red_zone / dead_zone) and/or strategy (rescue / recover / "
        "farewell), or neither to confirm it. Dead zone or farewell "
        "takes the exit path; anything else runs the playbook.",
    )
    async def override_triage(self, request: OverrideTriage) -> TriageDecision:
        s = self.s
        assert s.triage is not None
        decision = triage.apply_override(s.triage, request, workflow.now())
        self._publish()
        if decision.override is not None:
            await self._note("triage-override", decision.reasons[-1])
        return decision

    @override_triage.validator
    def _check_override_triage(self, request: OverrideTriage) -> None:
        s = self.s
        if s.stage is Stage.CLOSED:
            raise _rejected(f"the save closed on {rules.when(s.closed_at)} ({s.closed_reason})")
        if s.outcome is not None:
            raise _rejected(
                f"the outcome was already recorded ({s.outcome.kind.value}); triage can no longer change the path"
            )
        refusal = triage.override_refusal(s.triage, workflow.now())
        if refusal is not None:
            raise _rejected(refusal)

    # --- owner reassignment ---------------------------------------------------------------------

    @workflow.update(
        description="Hand the save's work for a role (the CSM by default) to another "
        "person: the CRM owner and that role's open tasks move to them."
    )
    def reassign_owner(self, request: ReassignOwner) -> OwnerChange:
        s = self.s
        previous = s.account.csm if request.role is OwnerRole.CSM else None
        change = OwnerChange(
            number=len(s.owner_changes) + 1,
            role=request.role,
            owner_id=request.owner_id,
            name=request.name,
            email=request.email,
            previous=previous,
            reason=request.reason,
            by=request.by,
            at=workflow.now(),
        )
        s.owner_changes.append(change)
        if request.role is OwnerRole.CSM:
            s.account = s.account.model_copy(update={"csm": request.name, "csm_id": request.owner_id})
        self._spawn_from_handler(self._sync_owner(change))
        self._publish()
        return change

    @reassign_owner.validator
    def _check_reassign_owner(self, request: ReassignOwner) -> None:
        s = self._require_active()
        if request.role is OwnerRole.CSM and s.account.csm_id == request.owner_id:
            raise _rejected(f"{request.owner_id!r} already owns this save")

    async def _sync_owner(self, change: OwnerChange) -> None:
        await self._act(
            CrmActivities.assign_owner,
            AssignOwnerRequest(
                save=self._ref,
                role=change.role,
                owner_id=change.owner_id,
                name=change.name,
                email=change.email,
                at=change.at,
            ),
            f"CRM owner for {change.role.value}: {change.name}",
        )
        change.synced = True
        text = (
            f"{change.role.value} reassigned to {change.name}"
            + (f" (was {change.previous})" if change.previous else "")
            + (f": {change.reason}" if change.reason else "")
        )
        await self._note(f"owner/{change.number}", text)
