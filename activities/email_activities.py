"""Email activities: render, record in the outbox, deliver once; and escalations."""

from __future__ import annotations

from datetime import timedelta
from typing import Any, Literal

from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.crm import CrmAdapter, Person
from activities.logs import activity_log
from activities.mailer import EmailRenderer, EmailUnusable, SmtpDelivery
from activities.store.outbox import OUTCOME_UNKNOWN, EmailRefused, EmailUncertain, Outbox, Outgoing
from playbook_defs.schema import CUSTOMER, Recipient
from playbook_defs.vocabulary import OwnerRole
from workflows.contracts import (
    OPERATIONS,
    ActivityName,
    CrmTaskRequest,
    EmailReceipt,
    EmailRequest,
    EscalationRequest,
    SaveRef,
)

EMAIL_UNCERTAIN = "EmailUncertain"
"""Error type: the relay had the message but its answer was lost; it may have been delivered."""
EMAIL_REFUSED = "EmailRefused"
"""Error type: the relay refused the email for good (5xx)."""
EMAIL_UNUSABLE = "EmailUnusable"
"""Error type: the email cannot be built (template error, invalid address)."""


class EmailActivities:
    def __init__(
        self,
        crm: CrmAdapter,
        outbox: Outbox,
        renderer: EmailRenderer,
        delivery: SmtpDelivery | None,
        ops_email: str | None = None,
    ) -> None:
        self.crm = crm
        self.outbox = outbox
        self.renderer = renderer
        self.delivery = delivery
        self.ops_email = ops_email
        """Where notices that a save needs attention go (``SAVES_OPS_EMAIL``); None: kept in the outbox."""

    async def _recipient(self, account_id: str, to: Recipient | Literal["operations"]) -> Person | None:
        if to == OPERATIONS:
            return Person(name="Operations", email=self.ops_email)
        if to == CUSTOMER:
            return await self.crm.get_primary_contact(account_id)
        return await self.crm.get_owner(account_id, OwnerRole(to))

    async def _context(
        self, save: SaveRef, to: Recipient | Literal["operations"], recipient: Person | None, extra: dict[str, Any]
    ) -> dict[str, Any]:
        account = await self.crm.get_account(save.account_id)
        csm = recipient if to == OwnerRole.CSM.value else await self.crm.get_owner(save.account_id, OwnerRole.CSM)
        return {
            "account": account.model_dump() if account else {"name": save.account_id},
            "recipient": {"name": recipient.name if recipient else "team"},
            "csm": {"name": csm.name if csm else "Your customer success manager", "email": csm.email if csm else None},
            **extra,
        }

    async def _send(
        self,
        key: str,
        save: SaveRef,
        template: str,
        to: Recipient | Literal["operations"],
        extra: dict[str, Any],
        at: Any,
        resend: str | None = None,
    ) -> EmailReceipt:
        """Send once, turning every failure retrying cannot fix into a non-retryable error."""
        try:
            receipt = await self._send_once(key, save, template, to, extra, at, resend)
        except EmailUncertain as exc:
            raise ApplicationError(
                f"email {key}: {exc}; it may have been delivered, so it is not resent by itself "
                "(an operator resends it: saves crm outbox resend ID)",
                type=EMAIL_UNCERTAIN,
                non_retryable=True,
            ) from exc
        except EmailRefused as exc:
            raise ApplicationError(f"email {key}: {exc}", type=EMAIL_REFUSED, non_retryable=True) from exc
        except EmailUnusable as exc:
            raise ApplicationError(f"email {key}: {exc}", type=EMAIL_UNUSABLE, non_retryable=True) from exc
        if receipt.status in OUTCOME_UNKNOWN:
            raise ApplicationError(
                f"email {key} is {receipt.status}: an earlier attempt lost the relay's answer after sending it; "
                "not resent by itself (an operator resends it: saves crm outbox resend ID)",
                type=EMAIL_UNCERTAIN,
                non_retryable=True,
            )
        if receipt.status == "failed":
            raise ApplicationError(
                f"email {key}: the relay refused it for good", type=EMAIL_REFUSED, non_retryable=True
            )
        return receipt

    async def _send_once(
        self,
        key: str,
        save: SaveRef,
        template: str,
        to: Recipient | Literal["operations"],
        extra: dict[str, Any],
        at: Any,
        resend: str | None,
    ) -> EmailReceipt:
        recipient = await self._recipient(save.account_id, to)
        subject, body = self.renderer.render(template, await self._context(save, to, recipient, extra))
        email = Outgoing(
            key=key,
            account_id=save.account_id,
            save_id=save.save_id,
            template=template,
            recipient=str(to),
            to_address=recipient.email if recipient else None,
            to_name=recipient.name if recipient else None,
            subject=subject,
            body=body,
        )
        status = await self.outbox.send_once(email, at, self.delivery, resend)
        activity_log(save).info("email", key=key, template=template, to=str(to), status=status)
        return EmailReceipt(key=key, status=status, to_address=email.to_address, subject=subject)

    @activity.defn(name=ActivityName.SEND_EMAIL.value)
    async def send_email(self, request: EmailRequest) -> EmailReceipt:
        """Send one email for a save step; a retry with the same key never sends it twice (an
        operator's retry, ``resend``, sends a failed or uncertain one once more)."""
        return await self._send(
            request.key, request.save, request.template, request.to, request.context, request.at, request.resend
        )

    @activity.defn(name=ActivityName.ESCALATE.value)
    async def escalate(self, request: EscalationRequest) -> EmailReceipt:
        """One rung of an escalation ladder: an email and a CRM task for the escalation owner."""
        overdue = "overdue" if request.overdue_by == "0" else f"overdue by {request.overdue_by}"
        context = {
            **request.context,
            "item": request.item,
            "item_owner": request.item_owner.value,
            "level": request.level,
            "overdue": overdue,
            "due": request.due_at.strftime("%a %d %b %H:%M UTC"),
            "to_role": request.to.value,
        }
        receipt = await self._send(
            request.key, request.save, "escalation", request.to, context, request.at, request.resend
        )
        owner = await self.crm.get_owner(request.save.account_id, request.to)
        await self.crm.create_task(
            CrmTaskRequest(
                key=request.key,
                save=request.save,
                owner=request.to,
                title=f"Escalation L{request.level}: {request.item} is {overdue}",
                body=f"Owner: {request.item_owner.value}. Due {context['due']}. Unblock it or take it over.",
                due_at=request.at + timedelta(hours=request.respond_within_hours),
                at=request.at,
            ),
            owner,
        )
        return receipt
