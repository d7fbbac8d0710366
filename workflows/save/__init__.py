"""The save engine: one workflow per account that interprets any playbook definition.

:class:`SaveWorkflow` (``workflow.py``) wires the phases and the handlers; each behaviour a CS team
names lives in a module of its own: ``first_contact`` (the 48-hour rule), ``ladder`` (deadlines and
escalations), ``steps`` (the playbook's steps and CRM tasks), ``commitments`` (promises and their
approvals), ``help_requests``, ``owners``, ``triggers``, ``cadence`` (weekly updates), ``outcome``,
``recovery`` (30/60/90-day checks and relapse), ``triage_path`` (the override window),
``exit_path`` (exit interview), ``archive`` (closing and reopening). Side effects go through
``effects``; background work through ``supervisor``; what the Temporal UI shows through ``publish``.
"""

from workflows.save.workflow import SaveWorkflow

__all__ = ["SaveWorkflow"]
