"""``SaveWorkflow``: one account's save, from the risk signal to its close.

A run covers one phase: the save itself (investigation, plan, intervention, awaiting the outcome),
the 90-day recovery after a saved outcome, or the exit after a lost one. Each phase ends in
continue-as-new, which keeps every run's history short. Every timer and activity is derived from
:class:`SaveState`, so a run can start from any state another run left. This class only wires the
phases and the handlers; the behaviours live in the modules beside it.
"""

from __future__ import annotations

import asyncio
from typing import NoReturn

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from playbook_defs.schema import PlaybookDef
    from playbook_defs.triage_rules import TriageRules
    from playbook_defs.vocabulary import OwnerRole, RiskColour, Stage
    from workflows import rules, triage
    from workflows.contracts import AccountSnapshot, ActivityName, InboundEvent, PlaybookRequest
    from workflows.details import current_details
    from workflows.models import (
        AddCommitment,
        AutomatedStatus,
        Commitment,
        CompleteTask,
        FlagHelp,
        FulfilCommitment,
        HelpRequest,
        NeedsAttention,
        Outcome,
        OwnerChange,
        ReassignOwner,
        RecordOutcome,
        RecordRootCause,
        ResolveAttention,
        RootCause,
        SaveInput,
        SaveResult,
        SaveState,
        Task,
        TaskSource,
        Trigger,
    )
    from workflows.save import (
        archive,
        attention,
        cadence,
        commitments,
        crm_sync,
        exit_path,
        help_requests,
        ladder,
        opening,
        outcome,
        owners,
        recovery,
        root_cause,
        steps,
        tasks,
        triage_path,
        triggers,
    )
    from workflows.save.context import SaveRun, rejected
    from workflows.save.guards import refuse_inactive
    from workflows.save.shared import share_playbook, shared_playbook
    from workflows.triage_models import OverrideTriage, TriageDecision

ROLLOVER_EVENTS = 1500
"""Continue as new mid-phase once a run's history reaches this many events (a save left open for months)."""


def _refuse(refusal: str | None) -> None:
    if refusal is not None:
        raise rejected(refusal)


@workflow.defn(name="Save")
class SaveWorkflow:
    """One account's save: tasks, emails, escalations, commitments, outcome and recovery."""

    def __init__(self) -> None:
        self._run = SaveRun()
        self._opens_in_one_read = False
        """This run opened the save the one-read way (:data:`opening.PATCH`)."""
        self._early_triggers: list[Trigger] = []
        self._early_crm_events: list[InboundEvent] = []

    @property
    def s(self) -> SaveState:
        return self._run.s

    # --- phases -------------------------------------------------------------------------------

    @workflow.run
    async def run(self, inp: SaveInput) -> SaveResult:
        if inp.state is None:
            await self._open(inp)
        else:
            self._run.state = share_playbook(inp.state)
            self._run.state.run_number += 1
        self._run.publish()
        if triage.holding(self.s.triage):
            await triage_path.hold(self._run)
        if self.s.stage is Stage.RECOVERY:
            return await self._recovery_phase()
        if self.s.stage is Stage.EXIT:
            return await self._exit_phase()
        return await self._save_phase()

    async def _open(self, inp: SaveInput) -> None:
        """Read the account, the playbook and the triage rules; decide the path; tell the CRM."""
        trigger = inp.trigger
        self._opens_in_one_read = workflow.patched(opening.PATCH)
        if self._opens_in_one_read:
            read = await opening.read(trigger)
            account, playbook, triage_rules = read.account, read.playbook, read.triage_rules
        else:
            account, playbook, triage_rules = await self._read_one_at_a_time(trigger)
        playbook = shared_playbook(playbook)
        s = rules.new_state(workflow.info().run_id, account, playbook, trigger, workflow.now(), inp.previous)
        s.triage = triage.decide(triage_rules, account, trigger, workflow.now())
        self._run.state = s
        self._run.publish()
        for early in self._early_triggers:
            self._record_trigger(early)
        for crm_event in self._early_crm_events:
            self._apply_crm_event(crm_event)
        why = f"{playbook.name} opened on a {trigger.kind.value.replace('_', ' ')} signal"
        if inp.previous is not None:
            why += f" (reopened: {inp.previous.reason})"
        effects = self._run.effects
        if self._opens_in_one_read:
            # in flight while the save goes on, so its first tasks go out in this same workflow task
            self._run.supervisor.spawn(opening.tell_crm(self._run, why, triage.summary(s.triage)))
        else:
            await asyncio.gather(
                effects.set_risk(RiskColour.RED, why),
                effects.note("opened", why),
                effects.note("triage", triage.summary(s.triage)),
            )
        workflow.logger.info("save opened", extra=self._run.log_extra())

    async def _read_one_at_a_time(self, trigger: Trigger) -> tuple[AccountSnapshot, PlaybookDef, TriageRules]:
        """How saves started before :data:`opening.PATCH` read what they open with."""
        call = self._run.effects.call
        # Without the account, the playbook or the rules there is no save: their errors end the run.
        account = await call(
            ActivityName.FETCH_ACCOUNT,
            trigger.account_id,
            "Read the account from the CRM",
            AccountSnapshot,
            attention=False,
        )
        request = PlaybookRequest(playbook_id=trigger.playbook, kind=trigger.kind, reason=trigger.reason)
        playbook = await call(
            ActivityName.LOAD_PLAYBOOK, request, "Load the playbook for this trigger", PlaybookDef, attention=False
        )
        triage_rules = await call(
            ActivityName.LOAD_TRIAGE_RULES, trigger.account_id, "Load the triage rules", TriageRules, attention=False
        )
        return account, playbook, triage_rules

    async def _save_phase(self) -> SaveResult:
        run, s = self._run, self.s
        if self._opens_in_one_read:
            await opening.open_first_tasks(run)
        for step in s.playbook.steps:
            task, auto = s.tasks.get(step.id), s.automated.get(step.id)
            if (task and task.is_active) or (auto and auto.status is AutomatedStatus.PENDING):
                run.supervisor.spawn(steps.run_step(run, step))
        self._resume_carried_over()
        cadence.start_cadence(run)
        run.supervisor.spawn(
            ladder.chase(
                run,
                "outcome",
                "Outcome decision",
                OwnerRole.CSM,
                s.outcome_watch.due_at,
                s.playbook.outcome.escalation,
                lambda: s.outcome is not None,
                lambda: outcome.mark_overdue(s),
            )
        )
        run.supervisor.accepting = True
        await run.supervisor.wait(lambda: s.outcome is not None or self._rollover_due() or triage.exit_chosen(s.triage))
        await run.supervisor.stop()
        if s.outcome is None and triage.exit_chosen(s.triage):
            await exit_path.switch_to_exit(run)
            await self._continue(SaveInput(trigger=s.triggers[0].trigger, state=s))
        if s.outcome is None:
            await self._continue(SaveInput(trigger=s.triggers[0].trigger, state=s))
        outcome.conclude(s, workflow.now())
        await outcome.tell_crm(run)
        await self._continue(SaveInput(trigger=s.triggers[0].trigger, state=s))

    async def _recovery_phase(self) -> SaveResult:
        run, s = self._run, self.s
        r = s.recovery
        assert r is not None
        self._resume_carried_over()
        recovery.start(run)
        run.supervisor.accepting = True
        finished = await run.supervisor.wait(
            lambda: (
                r.relapse is not None
                or self._rollover_due()
                or (run.recovery_period_over and rules.check_tasks_done(s))
            ),
            until=r.close_by,
            summary="Recovery closes even if a check is still open",
        )
        await run.supervisor.stop()
        if r.relapse is not None:
            await self._continue(await archive.reopen(run, r.relapse))
        if not finished or (run.recovery_period_over and rules.check_tasks_done(s)):
            return await archive.close(run, RiskColour.GREEN, "recovered", recovered=True)
        return await self._continue(SaveInput(trigger=s.triggers[0].trigger, state=s))

    async def _exit_phase(self) -> SaveResult:
        run, s = self._run, self.s
        assert s.exit_started_at is not None
        exit_task = await exit_path.open_exit_interview(run)
        run.supervisor.spawn(steps.run_task(run, exit_task, opens_at=s.exit_started_at))
        attention.resume_notices(run)
        run.supervisor.accepting = True
        finished = await run.supervisor.wait(
            lambda: not exit_task.is_active or self._rollover_due(),
            until=s.exit_started_at + s.playbook.exit.close_after,
            summary="Close the lost save",
        )
        await run.supervisor.stop()
        if finished and exit_task.is_active:
            return await self._continue(SaveInput(trigger=s.triggers[0].trigger, state=s))
        return await archive.close(run, RiskColour.RED, exit_path.closed_reason(s), recovered=None)

    def _resume_carried_over(self) -> None:
        """Restart chasing what outlives a phase: help and approval tasks, open commitments, owner syncs."""
        run, s = self._run, self.s
        spawn = run.supervisor.spawn
        for task in s.tasks.values():
            if task.source is TaskSource.APPROVAL and task.is_active:
                spawn(steps.run_task(run, task))
        for request in s.help_requests:
            if s.tasks[request.task_id].is_active:
                spawn(help_requests.run_help(run, request))
        for commitment in s.commitments:
            if commitments.is_open(commitment):
                spawn(commitments.run_commitment(run, commitment))
        for change in s.owner_changes:
            if not change.synced:
                spawn(owners.sync_owner(run, change))
        attention.resume_notices(run)

    async def _continue(self, inp: SaveInput) -> NoReturn:
        self._run.publish()
        await workflow.wait_condition(workflow.all_handlers_finished)
        workflow.continue_as_new(inp)

    def _rollover_due(self) -> bool:
        info = workflow.info()
        return info.is_continue_as_new_suggested() or info.get_current_history_length() >= ROLLOVER_EVENTS

    # --- signals and queries ------------------------------------------------------------------

    @workflow.signal(
        description="Another risk signal for this account: recorded on the running "
        "save, never a second save. During recovery it reopens the save."
    )
    def merge_trigger(self, trigger: Trigger) -> None:
        if self._run.state is None:
            self._early_triggers.append(trigger)
            return
        self._record_trigger(trigger)

    def _record_trigger(self, trigger: Trigger) -> None:
        if triggers.record_trigger(self.s, trigger, workflow.now()):
            self._run.publish()

    @workflow.signal(
        name=crm_sync.SIGNAL,
        description="Something a person did in the CRM (a task done or deleted, a call logged, an "
        "owner changed), at the CRM's time; each event key changes the save once.",
    )
    def crm_event(self, event: InboundEvent) -> None:
        if self._run.state is None:
            self._early_crm_events.append(event)
            return
        self._apply_crm_event(event)

    def _apply_crm_event(self, event: InboundEvent) -> None:
        if not workflow.patched(crm_sync.PATCH):
            return
        run, s = self._run, self.s
        result = crm_sync.apply_crm_event(s, s.crm_events, event, workflow.now())
        if result.record is None:
            return
        crm_sync.remember(s, result.record)
        if result.owner_change is not None:
            run.supervisor.spawn_from_handler(owners.sync_owner(run, result.owner_change))
        run.publish()

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

    # --- updates: people working the save -----------------------------------------------------

    @workflow.update(description="Mark a task done. Stops its escalation ladder.")
    def complete_task(self, request: CompleteTask) -> Task:
        task = self.s.tasks[request.task_id]
        tasks.complete(self.s, task, request.by, request.note, workflow.now(), request.approved)
        self._run.publish()
        return task

    @complete_task.validator
    def _check_complete_task(self, request: CompleteTask) -> None:
        _refuse(refuse_inactive(self.s) or tasks.refuse_complete(self.s, request))

    @workflow.update(
        description="Record a promise made to the customer (what, owner, due). A "
        "discount above the playbook's threshold waits for approval."
    )
    def add_commitment(self, request: AddCommitment) -> Commitment:
        run = self._run
        c, approval = commitments.add(self.s, request, workflow.now())
        if approval is not None:
            run.supervisor.spawn_from_handler(steps.run_task(run, approval))
        run.supervisor.spawn_from_handler(commitments.run_commitment(run, c))
        run.publish()
        return c

    @add_commitment.validator
    def _check_add_commitment(self, request: AddCommitment) -> None:
        _refuse(commitments.refuse_add(self.s, request, workflow.now()))

    @workflow.update(description="Mark a commitment delivered. Late delivery counts as broken.")
    def fulfil_commitment(self, request: FulfilCommitment) -> Commitment:
        c = commitments.fulfil(self.s, request, workflow.now())
        self._run.publish()
        return c

    @fulfil_commitment.validator
    def _check_fulfil_commitment(self, request: FulfilCommitment) -> None:
        _refuse(commitments.refuse_fulfil(self.s, request))

    @workflow.update(description="Record the root cause found with the five whys.")
    def record_root_cause(self, request: RecordRootCause) -> RootCause:
        found = root_cause.record(self.s, request, workflow.now())
        self._run.publish()
        return found

    @record_root_cause.validator
    def _check_root_cause(self, request: RecordRootCause) -> None:
        _refuse(refuse_inactive(self.s))

    @workflow.update(
        description="Flag that another team must help: a task with a deadline and "
        "an escalation ladder for that team's owner."
    )
    def flag_help(self, request: FlagHelp) -> HelpRequest:
        help_request = help_requests.add(self.s, request, workflow.now())
        self._run.supervisor.spawn_from_handler(help_requests.run_help(self._run, help_request))
        self._run.publish()
        return help_request

    @flag_help.validator
    def _check_flag_help(self, request: FlagHelp) -> None:
        _refuse(help_requests.refuse_help(self.s))

    @workflow.update(
        description="Record the outcome: saved, partially saved (with ARR retained) "
        "or lost, with a reason and the success criteria met."
    )
    def record_outcome(self, request: RecordOutcome) -> Outcome:
        recorded = outcome.record(self.s, request, workflow.now())
        self._run.publish()
        return recorded

    @record_outcome.validator
    def _check_outcome(self, request: RecordOutcome) -> None:
        _refuse(outcome.refuse_outcome(self.s, request))

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
        self._run.publish()
        if decision.override is not None:
            await self._run.effects.note("triage-override", decision.reasons[-1])
        return decision

    @override_triage.validator
    def _check_override_triage(self, request: OverrideTriage) -> None:
        _refuse(triage_path.refuse_override(self.s, workflow.now()))

    @workflow.update(
        description="Hand the save's work for a role (the CSM by default) to another "
        "person: the CRM owner and that role's open tasks move to them."
    )
    def reassign_owner(self, request: ReassignOwner) -> OwnerChange:
        change = owners.reassign(self.s, request, workflow.now())
        self._run.supervisor.spawn_from_handler(owners.sync_owner(self._run, change))
        self._run.publish()
        return change

    @reassign_owner.validator
    def _check_reassign_owner(self, request: ReassignOwner) -> None:
        _refuse(owners.refuse_reassign(self.s, request))

    @workflow.update(
        description="An operator's decision on a step that needs attention (a1, a2...): retry it after "
        "fixing the data (an email is sent once more), or skip it with a reason. Who, when, why and "
        "what came of it are recorded on the item."
    )
    async def resolve_attention(self, request: ResolveAttention) -> NeedsAttention:
        return await attention.resolve(self._run, request)

    @resolve_attention.validator
    def _check_resolve_attention(self, request: ResolveAttention) -> None:
        _refuse(attention.refuse_resolve(self.s, request))
