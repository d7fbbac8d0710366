"""The API inside ``saves up``: same client and store as the worker, a secret created on first start."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from rich.console import Console
from sqlalchemy.ext.asyncio import AsyncEngine

from worker.api.app import create_app
from worker.api.codec import CodecAccess
from worker.api.secrets import ensure_webhook_secret
from worker.api.serve import any_free_port, forget_old_answers, port_free, start_embedded
from worker.runtime.save_client import SaveClient
from worker.runtime.settings import Settings


@asynccontextmanager
async def start_api(settings: Settings, saves: SaveClient, engine: AsyncEngine, out: Console) -> AsyncIterator[str]:
    """Serve the API while the block runs; yields its base URL."""
    secrets, secret_path = ensure_webhook_secret(settings)
    await forget_old_answers(engine, settings.api_remember_days)
    app = create_app(
        saves,
        engine=engine,
        secrets=secrets,
        max_body=settings.api_max_body,
        hubspot_app_secret=settings.hubspot_secret,
        hubspot_webhook_url=settings.hubspot_webhook_url,
        codec=saves.client.data_converter.payload_codec,
        codec_access=CodecAccess.from_settings(settings),
        require_v2=settings.webhook_require_v2,
    )
    running = await start_embedded(app, settings.api_host, settings.api_port)
    if running.moved:
        out.print(f"note: port {settings.api_port} is in use; the API listens on {running.url}", soft_wrap=True)
    if secret_path is not None:
        out.print(f"Webhook secret: {secret_path} (sign requests with `saves sign`)", highlight=False, soft_wrap=True)
    try:
        yield running.url
    finally:
        await running.stop()


def embedded_codec(settings: Settings) -> tuple[Settings, str | None]:
    """For ``saves up``: fix the API's port now (the dev server must be told where the codec
    endpoint is before the API starts) and let the embedded UI, which cannot send a token, call
    from this machine. Returns the settings to use and the endpoint (None with encryption off)."""
    if settings.encryption == "off":
        return settings, None
    port = settings.api_port if port_free(settings.api_host, settings.api_port) else any_free_port(settings.api_host)
    host = "127.0.0.1" if settings.api_host in ("0.0.0.0", "::", "") else settings.api_host
    settings = settings.model_copy(update={"api_port": port, "codec_allow_loopback": True})
    return settings, f"http://{host}:{port}/codec"
