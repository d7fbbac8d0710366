"""Rendering emails from Jinja2 templates and delivering them over SMTP."""

from __future__ import annotations

import asyncio
import re
import smtplib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from email.errors import HeaderParseError
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
from email.utils import parseaddr
from pathlib import Path
from typing import Any

from jinja2 import ChainableUndefined, Environment, FileSystemLoader, StrictUndefined, TemplateError

from activities.store.outbox import Claim, EmailRefused, EmailUncertain, Outgoing
from playbook_defs.loader import TEMPLATE_DIR

_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")


class EmailUnusable(ValueError):
    """The email cannot be built (template error, unusable address): retrying cannot help."""


def address(name: str | None, addr: str) -> Address:
    """A header address built by the email package, so a name can never add or drop a recipient.

    Line breaks and other control characters in the display name become spaces; an address that
    is not a single valid mailbox is refused with :class:`EmailUnusable`.
    """
    display = " ".join(_CONTROL.sub(" ", name or "").split())
    if _CONTROL.search(addr) or addr.count("@") != 1:
        raise EmailUnusable(f"the recipient address {addr!r} is not one valid mailbox")
    try:
        return Address(display_name=display, addr_spec=addr.strip())
    except (ValueError, HeaderParseError, IndexError) as exc:
        raise EmailUnusable(f"the recipient address {addr!r} is not valid: {exc}") from None


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

    @property
    def environment(self) -> Environment:
        return self._env

    def render(self, template: str, context: dict[str, Any]) -> tuple[str, str]:
        """Subject and body; :class:`EmailUnusable` names the template when it cannot be used."""
        try:
            tmpl = self._env.get_template(f"{template}.j2")
            for block in ("subject", "body"):
                if block not in tmpl.blocks:
                    raise EmailUnusable(f"template {template}.j2 has no {{% block {block} %}}")
            ctx = tmpl.new_context(context)
            subject = "".join(tmpl.blocks["subject"](ctx)).strip()
            body = "".join(tmpl.blocks["body"](ctx)).strip() + "\n"
        except TemplateError as exc:
            line = getattr(exc, "lineno", None)
            where = f" line {line}" if line else ""
            raise EmailUnusable(f"template {template}.j2{where}: {exc.message or type(exc).__name__}") from None
        return " ".join(subject.split()), body


SAMPLE_CONTEXT: dict[str, Any] = {
    "account": {"account_id": "acme", "name": "Acme Corp", "tier": "enterprise", "arr": 120000.0},
    "recipient": {"name": "Pat Lee"},
    "csm": {"name": "Sam Ortiz", "email": "sam@example.com"},
}
"""What every email's context has; ``saves playbooks check`` renders each template with it (and
leaves whatever else a template reads empty), so a template that cannot render fails the check,
not a live save."""


def check_templates(renderer: EmailRenderer, names: Iterable[str]) -> list[str]:
    """One ``"templates/<name>.j2: <problem>"`` line per template that cannot be parsed or rendered."""
    lenient = renderer.environment.overlay(undefined=ChainableUndefined)
    problems = []
    for name in sorted(names):
        try:
            tmpl = lenient.get_template(f"{name}.j2")
            missing = [b for b in ("subject", "body") if b not in tmpl.blocks]
            if missing:
                problems.append(f"templates/{name}.j2: no {{% block {missing[0]} %}}; every email needs one")
                continue
            ctx = tmpl.new_context(dict(SAMPLE_CONTEXT))
            subject = "".join(tmpl.blocks["subject"](ctx)).strip()
            "".join(tmpl.blocks["body"](ctx))
            if not subject:
                problems.append(f"templates/{name}.j2: the subject block renders empty")
        except TemplateError as exc:
            line = getattr(exc, "lineno", None)
            where = f" line {line}" if line else ""
            problems.append(f"templates/{name}.j2{where}: {exc.message or type(exc).__name__}")
        except Exception as exc:  # a filter or format call on sample data: name it, never a traceback
            problems.append(f"templates/{name}.j2: cannot render: {exc}")
    return problems


@dataclass(frozen=True)
class SmtpSettings:
    host: str
    port: int = 25
    username: str | None = None
    password: str | None = None
    starttls: bool = False
    sender: str = "saves@localhost"
    timeout: float = 30.0
    """Seconds to wait for the relay at each step, including its answer to the end of data."""


class SmtpDelivery:
    """Delivers an :class:`Outgoing` email with the standard library's SMTP client.

    The outbox row is claimed only once the server holds the envelope and the whole content,
    right before the end-of-data mark: a worker lost earlier leaves nothing claimed and the
    retry sends; a refused claim drops the connection mid-data, which makes the server discard
    the message. Failures are classified: a permanent SMTP refusal (5xx) raises
    :class:`EmailRefused`; an unusable address :class:`EmailUnusable`; once the end-of-data
    mark may have reached the relay, anything but a clear answer (a timeout, a dropped
    connection) raises :class:`EmailUncertain`, since the relay may have accepted it. Connection
    errors and temporary refusals (4xx) propagate as they are, to be retried.
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
        msg["To"] = address(email.to_name, email.to_address or "")
        msg["Subject"] = email.subject
        msg["Message-ID"] = email.message_id
        msg["X-Save-Key"] = email.key
        msg.set_content(email.body)
        data = re.sub(rb"(?m)^\.", b"..", msg.as_bytes(policy=SMTP_POLICY))  # dot-stuffing
        return data if data.endswith(b"\r\n") else data + b"\r\n"

    def _send(self, email: Outgoing, claim_now: Callable[[], bool]) -> None:
        assert email.to_address is not None
        try:
            self._converse(email, claim_now)
        except smtplib.SMTPResponseException as exc:
            if exc.smtp_code >= 500:
                raise EmailRefused(f"the relay refused the email: {exc.smtp_code} {_text(exc.smtp_error)}") from exc
            raise
        except smtplib.SMTPRecipientsRefused as exc:
            codes = [code for code, _ in exc.recipients.values()]
            if codes and min(codes) >= 500:
                raise EmailRefused(f"the relay refused the recipient: {exc.recipients}") from exc
            raise

    def _converse(self, email: Outgoing, claim_now: Callable[[], bool]) -> None:
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
            try:
                smtp.send(b".\r\n")
                code, reply = smtp.getreply()
            except (OSError, smtplib.SMTPException) as exc:
                # The relay has the whole message and may have accepted it: never resent by itself.
                raise EmailUncertain(f"no answer from the relay after the message was sent: {exc!r}") from exc
            if code != 250:
                raise smtplib.SMTPDataError(code, reply)


def _text(reply: bytes | str) -> str:
    return reply.decode("utf-8", "replace") if isinstance(reply, bytes) else str(reply)
