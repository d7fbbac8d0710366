"""Rendering emails from Jinja2 templates and delivering them over SMTP."""

from __future__ import annotations

import asyncio
import smtplib
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formataddr
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined

from activities.store.outbox import Outgoing
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
    """Delivers an :class:`Outgoing` email with the standard library's SMTP client."""

    def __init__(self, settings: SmtpSettings) -> None:
        self.settings = settings

    async def __call__(self, email: Outgoing) -> None:
        await asyncio.to_thread(self._send, email)

    def _send(self, email: Outgoing) -> None:
        assert email.to_address is not None
        msg = EmailMessage()
        msg["From"] = self.settings.sender
        msg["To"] = formataddr((email.to_name or "", email.to_address))
        msg["Subject"] = email.subject
        msg["Message-ID"] = email.message_id
        msg["X-Save-Key"] = email.key
        msg.set_content(email.body)
        cfg = self.settings
        with smtplib.SMTP(cfg.host, cfg.port, timeout=cfg.timeout) as smtp:
            if cfg.starttls:
                smtp.starttls()
            if cfg.username:
                smtp.login(cfg.username, cfg.password or "")
            smtp.send_message(msg)
