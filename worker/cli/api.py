"""``saves api`` and ``saves sign``: the HTTP API from the command line."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
import uvicorn

from worker.api.secrets import NoSecretError, webhook_secrets
from worker.api.signature import HEADER, Request, sign
from worker.runtime.codec import EncryptionSettingsError
from worker.runtime.logs import configure_logging
from worker.runtime.settings import Settings

app = typer.Typer()


def _secrets(settings: Settings) -> list[str]:
    try:
        return webhook_secrets(settings)
    except NoSecretError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None


@app.command("api")
def api(
    host: Annotated[str | None, typer.Option(help="Interface to listen on (default SAVES_API_HOST).")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on (default SAVES_API_PORT).")] = None,
) -> None:
    """Serve the HTTP API (triggers, saves, human actions) against the configured Temporal cluster."""
    from worker.api.serve import production_app

    settings = Settings()
    configure_logging(settings.log_format or "console", settings.log_level)
    try:
        app = production_app(settings, _secrets(settings))
    except EncryptionSettingsError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    uvicorn.run(
        app, host=host or settings.api_host, port=port or settings.api_port, log_level=settings.log_level.lower()
    )


@app.command("sign")
def sign_body(
    file: Annotated[
        Path | None, typer.Argument(help="File holding the exact request body; '-' or nothing reads standard input.")
    ] = None,
    header: Annotated[bool, typer.Option(help="Print the whole header line, not only its value.")] = False,
    path: Annotated[
        str | None,
        typer.Option(help="The request's path with its query (e.g. /triggers): adds a v2 signature bound to it."),
    ] = None,
    method: Annotated[str, typer.Option(help="The request's method, for the v2 signature.")] = "POST",
    key: Annotated[str, typer.Option(help="The request's Idempotency-Key header, for the v2 signature.")] = "",
) -> None:
    """Print the Saves-Signature for a request body, signed with the configured webhook secret.

    With --path it carries a v2 signature too, bound to the method, the path and the
    Idempotency-Key: sent anywhere else it is refused.
    """
    body = sys.stdin.buffer.read() if file is None or str(file) == "-" else file.read_bytes()
    request = Request(method=method.upper(), path=path, key=key.strip()) if path is not None else None
    value = sign(_secrets(Settings())[:1], body, request=request)
    typer.echo(f"{HEADER}: {value}" if header else value)
