"""Reading what a new save opens with, in one activity: its account, its playbook, the triage rules.

One activity instead of three is what lets a morning's burst of saves open quickly: each activity
costs a scheduling round trip and a workflow task. Playbooks and rules come from the worker's
parsed copies (parsed again only when their files change).
"""

from __future__ import annotations

from temporalio import activity

from activities.crm_activities import CrmActivities
from activities.playbook_activities import PlaybookActivities
from activities.triage_activities import TriageActivities
from workflows.contracts import ActivityName, OpeningRequest, SaveOpening


class OpeningActivities:
    def __init__(self, crm: CrmActivities, playbooks: PlaybookActivities, triage: TriageActivities) -> None:
        self.crm = crm
        self.playbooks = playbooks
        self.triage = triage

    @activity.defn(name=ActivityName.READ_SAVE_OPENING.value)
    async def read_save_opening(self, request: OpeningRequest) -> SaveOpening:
        """The same rules as the three reads it replaces: an unknown account or playbook fails for
        good; a broken playbook or rules file, or a CRM that is down, is retried."""
        account = await self.crm.fetch_account(request.account_id)
        playbook = await self.playbooks.load_playbook(request.playbook)
        rules = await self.triage.load_triage_rules(request.account_id)
        return SaveOpening(account=account, playbook=playbook, triage_rules=rules)
