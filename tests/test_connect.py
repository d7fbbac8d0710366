"""Where the worker connects: defaults, a Temporal client-config profile, SAVES_* variables, TLS."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import SecretStr
from temporalio.api.workflowservice.v1 import GetSystemInfoRequest
from temporalio.service import TLSConfig
from temporalio.testing import WorkflowEnvironment

from worker.runtime.connect import ConnectionSettingsError, connect, connect_options
from worker.runtime.settings import Settings


@pytest.fixture
def profiles(tmp_path: Path) -> Path:
    for name in ("ca.pem", "client.pem", "client.key"):
        (tmp_path / name).write_text(f"-- {name} --\n")
    path = tmp_path / "temporal.toml"
    path.write_text(f"""
[profile.cloud]
address = "saves-prod.a1b2c.tmprl.cloud:7233"
namespace = "saves-prod.a1b2c"
api_key = "cloud-key"

[profile.onprem]
address = "temporal.internal:7233"
namespace = "saves"
[profile.onprem.tls]
server_ca_cert_path = "{tmp_path / "ca.pem"}"
client_cert_path = "{tmp_path / "client.pem"}"
client_key_path = "{tmp_path / "client.key"}"
server_name = "temporal.internal"
""")
    return path


@pytest.fixture(autouse=True)
def _no_ambient_temporal_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        "TEMPORAL_ADDRESS",
        "TEMPORAL_NAMESPACE",
        "TEMPORAL_API_KEY",
        "TEMPORAL_PROFILE",
        "TEMPORAL_CONFIG_FILE",
        "TEMPORAL_TLS",
    ):
        monkeypatch.delenv(name, raising=False)


def test_without_a_profile_the_defaults_are_a_local_server() -> None:
    options = connect_options(Settings())
    assert (options.address, options.namespace, options.tls, options.api_key) == (
        "localhost:7233",
        "default",
        False,
        None,
    )


def test_a_temporal_cloud_profile_gives_address_namespace_api_key_and_tls(profiles: Path) -> None:
    options = connect_options(Settings(temporal_profile="cloud", temporal_config_file=profiles))
    assert options.address == "saves-prod.a1b2c.tmprl.cloud:7233"
    assert options.namespace == "saves-prod.a1b2c"
    assert options.api_key == "cloud-key" and options.tls is True


def test_an_mtls_profile_reads_the_certificates(profiles: Path) -> None:
    options = connect_options(Settings(temporal_profile="onprem", temporal_config_file=profiles))
    assert isinstance(options.tls, TLSConfig)
    assert options.tls.server_root_ca_cert == b"-- ca.pem --\n"
    assert options.tls.client_private_key == b"-- client.key --\n"
    assert options.tls.domain == "temporal.internal"


def test_saves_variables_that_are_set_win_over_the_profile_and_temporal_variables_over_the_file(
    profiles: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SAVES_TEMPORAL_PROFILE", "cloud")
    monkeypatch.setenv("SAVES_TEMPORAL_CONFIG_FILE", str(profiles))
    monkeypatch.setenv("SAVES_TEMPORAL_NAMESPACE", "saves-staging.a1b2c")
    monkeypatch.setenv("TEMPORAL_API_KEY", "rotated-key")
    options = connect_options(Settings())
    assert options.namespace == "saves-staging.a1b2c"
    assert options.address == "saves-prod.a1b2c.tmprl.cloud:7233"
    assert options.api_key == "rotated-key"


def test_an_unknown_profile_is_a_clear_error(profiles: Path) -> None:
    with pytest.raises(ConnectionSettingsError, match="'staging'"):
        connect_options(Settings(temporal_profile="staging", temporal_config_file=profiles))


def test_tls_files_and_an_api_key_from_saves_variables(tmp_path: Path) -> None:
    (tmp_path / "ca.pem").write_bytes(b"CA")
    (tmp_path / "c.pem").write_bytes(b"CERT")
    (tmp_path / "c.key").write_bytes(b"KEY")
    options = connect_options(
        Settings(
            temporal_tls_ca=tmp_path / "ca.pem",
            temporal_tls_cert=tmp_path / "c.pem",
            temporal_tls_key=tmp_path / "c.key",
        )
    )
    assert isinstance(options.tls, TLSConfig)
    assert (options.tls.server_root_ca_cert, options.tls.client_cert, options.tls.client_private_key) == (
        b"CA",
        b"CERT",
        b"KEY",
    )
    assert connect_options(Settings(temporal_api_key=SecretStr("k"))).tls is True


def test_half_an_mtls_pair_or_a_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConnectionSettingsError, match="SAVES_TEMPORAL_TLS_KEY"):
        connect_options(Settings(temporal_tls_cert=tmp_path / "c.pem"))
    with pytest.raises(ConnectionSettingsError, match=r"ca\.pem"):
        connect_options(Settings(temporal_tls_ca=tmp_path / "ca.pem"))


async def test_a_profile_connects_to_a_real_server(tmp_path: Path, time_env: WorkflowEnvironment) -> None:
    target = time_env.client.service_client.config.target_host
    config = tmp_path / "temporal.toml"
    config.write_text(f'[profile.local]\naddress = "{target}"\nnamespace = "default"\n')
    client = await connect(Settings(temporal_profile="local", temporal_config_file=config))
    assert client.service_client.config.target_host == target
    info = await client.workflow_service.get_system_info(GetSystemInfoRequest())
    assert info.server_version is not None
