"""Connecting to Temporal with the settings, always with the pydantic data converter."""

from __future__ import annotations

from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.service import TLSConfig

from worker.settings import Settings


def tls_config(settings: Settings) -> TLSConfig | bool:
    files = (settings.temporal_tls_ca, settings.temporal_tls_cert, settings.temporal_tls_key)
    if not settings.temporal_tls and not any(files):
        return bool(settings.temporal_api_key)  # Temporal Cloud API keys need TLS
    ca, cert, key = (p.read_bytes() if p else None for p in files)
    return TLSConfig(server_root_ca_cert=ca, client_cert=cert, client_private_key=key)


async def connect(settings: Settings) -> Client:
    api_key = settings.temporal_api_key.get_secret_value() if settings.temporal_api_key else None
    return await Client.connect(
        settings.temporal_address,
        namespace=settings.temporal_namespace,
        tls=tls_config(settings),
        api_key=api_key,
        data_converter=pydantic_data_converter,
    )
