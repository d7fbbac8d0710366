"""Where the webhook secret comes from: configuration, or the file ``saves up`` creates."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from worker.runtime.settings import Settings

SECRET_FILE = "webhook_secret"


class NoSecretError(RuntimeError):
    """No webhook secret is configured; the message says how to set one."""


def secret_file(settings: Settings) -> Path:
    return settings.data_dir / SECRET_FILE


def webhook_secrets(settings: Settings) -> list[str]:
    """Accepted secrets, the signing one first: ``SAVES_WEBHOOK_SECRET`` (comma-separated while
    rotating), else the file ``saves up`` created in the data directory."""
    if settings.webhook_secret is not None:
        found = [s.strip() for s in settings.webhook_secret.get_secret_value().split(",") if s.strip()]
    else:
        path = secret_file(settings)
        found = [path.read_text().strip()] if path.is_file() else []
    if not found:
        raise NoSecretError(
            f"no webhook secret: set SAVES_WEBHOOK_SECRET, or run `saves up` once to create {secret_file(settings)}"
        )
    return found


def ensure_webhook_secret(settings: Settings) -> tuple[list[str], Path | None]:
    """The embedded default: the configured secrets, or a secret file created on first start.

    Returns the secrets and, when the secret lives in a file, its path.
    """
    if settings.webhook_secret is not None:
        return webhook_secrets(settings), None
    path = secret_file(settings)
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_urlsafe(32) + "\n")
    return webhook_secrets(settings), path
