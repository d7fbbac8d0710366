"""Connecting to Temporal with the settings, always with the project's data converter (pydantic + codec).

Three ways to say where the cluster is, from the least to the most specific:
the defaults (a local dev server), a profile of Temporal's own client configuration file
(``SAVES_TEMPORAL_PROFILE``; the file the ``temporal`` CLI uses, with ``TEMPORAL_*`` overrides),
and the ``SAVES_TEMPORAL_*`` variables, which win whenever they are set.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from temporalio.client import Client
from temporalio.envconfig import ClientConfigProfile
from temporalio.service import TLSConfig

from worker.runtime.codec import data_converter
from worker.runtime.settings import Settings


class ConnectionSettingsError(ValueError):
    """A TLS file or the profile cannot be read; the message names which and why."""


@dataclass(frozen=True)
class ConnectOptions:
    """What ``Client.connect`` gets: where, which namespace, and how to authenticate."""

    address: str
    namespace: str
    tls: TLSConfig | bool = False
    api_key: str | None = None
    rpc_metadata: dict[str, str] = field(default_factory=dict)


def _read(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise ConnectionSettingsError(f"{what} {path}: {exc.strerror}") from None


def _profile(settings: Settings) -> ClientConfigProfile | None:
    if settings.temporal_profile is None and settings.temporal_config_file is None:
        return None
    source = settings.temporal_config_file
    if source is not None and not source.is_file():
        raise ConnectionSettingsError(f"SAVES_TEMPORAL_CONFIG_FILE {source}: no such file")
    try:
        return ClientConfigProfile.load(settings.temporal_profile, config_source=source)
    except Exception as exc:  # the SDK's loader raises plain errors for a bad file or profile
        raise ConnectionSettingsError(f"Temporal profile {settings.temporal_profile or 'default'!r}: {exc}") from None


def _tls(settings: Settings, profile_tls: TLSConfig | bool, api_key: str | None) -> TLSConfig | bool:
    files = (settings.temporal_tls_ca, settings.temporal_tls_cert, settings.temporal_tls_key)
    if (settings.temporal_tls_cert is None) != (settings.temporal_tls_key is None):
        raise ConnectionSettingsError(
            "mTLS needs both SAVES_TEMPORAL_TLS_CERT and SAVES_TEMPORAL_TLS_KEY (only one is set)"
        )
    if any(files) or settings.temporal_tls_server_name:
        ca, cert, key = (
            _read(p, n) if p else None
            for p, n in zip(
                files, ("SAVES_TEMPORAL_TLS_CA", "SAVES_TEMPORAL_TLS_CERT", "SAVES_TEMPORAL_TLS_KEY"), strict=True
            )
        )
        return TLSConfig(
            server_root_ca_cert=ca, client_cert=cert, client_private_key=key, domain=settings.temporal_tls_server_name
        )
    if "temporal_tls" in settings.model_fields_set:
        return settings.temporal_tls
    if profile_tls:
        return profile_tls
    return bool(api_key)  # Temporal Cloud API keys travel over TLS


def connect_options(settings: Settings) -> ConnectOptions:
    """Merge the profile (if any) and the settings; settings that were set explicitly win."""
    profile = _profile(settings)
    given = settings.model_fields_set
    from_profile = profile.to_client_connect_config() if profile else {}

    def pick(name: str, profile_key: str, default: str) -> str:
        if name in given or profile_key not in from_profile:
            return str(getattr(settings, name) or default)
        return str(from_profile[profile_key])  # type: ignore[literal-required]

    api_key = settings.temporal_api_key.get_secret_value() if settings.temporal_api_key else from_profile.get("api_key")
    return ConnectOptions(
        address=pick("temporal_address", "target_host", "localhost:7233"),
        namespace=pick("temporal_namespace", "namespace", "default"),
        tls=_tls(settings, from_profile.get("tls", False), api_key),
        api_key=api_key,
        rpc_metadata=dict(from_profile.get("rpc_metadata", {})),
    )


async def connect(settings: Settings) -> Client:
    options = connect_options(settings)
    converter = data_converter(settings)  # a missing key fails here, before any payload is written
    return await Client.connect(
        options.address,
        namespace=options.namespace,
        tls=options.tls,
        api_key=options.api_key,
        rpc_metadata=options.rpc_metadata,
        data_converter=converter,
    )
