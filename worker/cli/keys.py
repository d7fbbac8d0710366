"""``saves keys``: payload encryption keys (AES-256) for the codec."""

from __future__ import annotations

import typer

from worker.runtime.codec import EncryptionSettingsError, key_ring, new_key
from worker.runtime.settings import Settings

app = typer.Typer(name="keys", help="Payload encryption keys: make one, see which are in use.", no_args_is_help=True)


@app.command("new")
def keys_new() -> None:
    """Print a fresh key as id:base64key. To rotate, put it first in SAVES_ENCRYPTION_KEYS and keep the
    old ones after it (the first encrypts, all decrypt), then restart workers and clients."""
    typer.echo(new_key())


@app.command("show")
def keys_show() -> None:
    """Where the keys come from and their ids (never the keys), the encrypting one first."""
    try:
        ring = key_ring(Settings())
    except EncryptionSettingsError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    if ring is None:
        typer.echo("encryption is off (SAVES_ENCRYPTION=off): payloads reach Temporal in plaintext")
        return
    typer.echo(f"keys from {ring.source}: {', '.join(ring.ids)} (encrypting with {ring.current})")
