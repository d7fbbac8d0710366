"""The API inside ``saves up``: same client and store as the worker, a secret created on first start."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from rich.console import Console
from sqlalchemy.ext.asyncio import AsyncEngine

from worker.api.app import create_app
from worker.api.secrets import ensure_webhook_secret
from worker.api.serve import forget_old_answers, start_embedded
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
