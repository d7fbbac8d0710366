"""Rendering emails from Jinja2 templates and delivering them over SMTP."""

from __future__ import annotations

import asyncio
import re
import smtplib
from collections.abc import Callable
from dataclasses import dataclass
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
from email.utils import formataddr, parseaddr
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined

from activities.store.outbox import Claim, Outgoing
from playbook_defs.loader import TEMPLATE_DIR


class EmailRenderer:
    """Each template ``<name>.j2`` defines a ``subject`` block and a ``body`` block."""

    def __init__(self, *template_dirs: Path) -> None:
        self._env = Environment(
            loader=FileSystemLoader([str(d) for d in (*template_dirs, TEMPLATE_DIR)]),
            undefined=StrictUndefined,
            autoescape=False,
            trim_blocks=True,
            lstrip_blocks=True,
            keep_trailing_newline=True,
        )

    def render(self, template: str, context: dict[str, Any]) -> tuple[str, str]:
        tmpl = self._env.get_template(f"{template}.j2")
        ctx = tmpl.new_context(context)
        subject = "".join(tmpl.blocks["subject"](ctx)).strip()
        body = "".join(tmpl.blocks["body"](ctx)).strip() + "\n"
        return " ".join(subject.split()), body


@dataclass(frozen=True)
class SmtpSettings:
    host: str
    port: int = 25
    username: str | None = None
    password: str | None = None
    starttls: bool = False
    sender: str = "saves@localhost"
    timeout: float = 30.0


class SmtpDelivery:
    """Delivers an :class:`Outgoing` email with the standard library's SMTP client.

    The outbox row is claimed only once the server holds the envelope and the whole content,
    right before the end-of-data mark: a worker lost earlier leaves nothing claimed and the
    retry sends; a refused claim drops the connection mid-data, which makes the server discard
    the message.
    """

    def __init__(self, settings: SmtpSettings) -> None:
        self.settings = settings

    async def __call__(self, email: Outgoing, claim: Claim) -> None:
        loop = asyncio.get_running_loop()

        def claim_now() -> bool:
            return asyncio.run_coroutine_threadsafe(claim(), loop).result(timeout=self.settings.timeout)

        await asyncio.to_thread(self._send, email, claim_now)

    def _message(self, email: Outgoing) -> bytes:
        msg = EmailMessage()
        msg["From"] = self.settings.sender
        msg["To"] = formataddr((email.to_name or "", email.to_address or ""))
        msg["Subject"] = email.subject
        msg["Message-ID"] = email.message_id
        msg["X-Save-Key"] = email.key
        msg.set_content(email.body)
        data = re.sub(rb"(?m)^\.", b"..", msg.as_bytes(policy=SMTP_POLICY))  # dot-stuffing
        return data if data.endswith(b"\r\n") else data + b"\r\n"

    def _send(self, email: Outgoing, claim_now: Callable[[], bool]) -> None:
        assert email.to_address is not None
        cfg = self.settings
        data = self._message(email)
        with smtplib.SMTP(cfg.host, cfg.port, timeout=cfg.timeout) as smtp:
            if cfg.starttls:
                smtp.starttls()
            if cfg.username:
                smtp.login(cfg.username, cfg.password or "")
            smtp.ehlo_or_helo_if_needed()
            sender = parseaddr(cfg.sender)[1] or cfg.sender
            code, reply = smtp.mail(sender)
            if code != 250:
                raise smtplib.SMTPSenderRefused(code, reply, sender)
            code, reply = smtp.rcpt(email.to_address)
            if code not in (250, 251):
                raise smtplib.SMTPRecipientsRefused({email.to_address: (code, reply)})
            code, reply = smtp.docmd("DATA")
            if code != 354:
                raise smtplib.SMTPDataError(code, reply)
            smtp.send(data)
            if not claim_now():
                smtp.close()  # another attempt owns this email: end the connection mid-data
                return
            smtp.send(b".\r\n")
            code, reply = smtp.getreply()
            if code != 250:
                raise smtplib.SMTPDataError(code, reply)
