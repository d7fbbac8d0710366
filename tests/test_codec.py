"""The payload codec: keys from configuration, rotation, a missing or wrong key, the codec server."""

from __future__ import annotations

import base64
import dataclasses
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr
from temporalio.api.common.v1 import Payload
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import WorkflowSerializationContext
from temporalio.testing import WorkflowEnvironment

from activities.save_history import fetch_save_runs
from playbook_defs.vocabulary import OutcomeKind, TriggerKind
from tests import codec_keys
from tests.codec_keys import KEY_A, KEY_B
from tests.harness import Harness
from worker.api.app import create_app
from worker.api.codec import CodecAccess
from worker.runtime.codec import (
    ENCODING,
    KEY_ID_FIELD,
    EncryptionCodec,
    EncryptionSettingsError,
    PayloadKeyError,
    SharedPydanticPayloadConverter,
    data_converter,
    ensure_key_file,
    key_ring,
    new_key,
    parse_keys,
)
from worker.runtime.save_client import workflow_id
from worker.runtime.settings import Settings
from workflows.models import RecordOutcome
from workflows.save import SaveWorkflow

UI = "http://localhost:8233"
TOKEN = "codec-token-for-tests"


def _settings(tmp_path: Path, **values: object) -> Settings:
    given: dict[str, object] = {"encryption_keys": None, "encryption_key_file": None, **values}
    return Settings(data_dir=tmp_path, **given)  # type: ignore[arg-type]


async def test_payloads_written_with_a_are_read_after_rotating_to_b_a() -> None:
    old = codec_keys.converter(KEY_A)
    written = await old.encode([{"contact": "priya.nair@northwind.example.org"}])
    assert written[0].metadata["encoding"] == ENCODING and written[0].metadata[KEY_ID_FIELD] == b"test-a"
    assert b"priya" not in written[0].SerializeToString()

    rotated = codec_keys.converter(f"{KEY_B},{KEY_A}")
    assert await rotated.decode(written, [dict]) == [{"contact": "priya.nair@northwind.example.org"}]
    fresh = await rotated.encode(["new"])
    assert fresh[0].metadata[KEY_ID_FIELD] == b"test-b"  # the first key encrypts

    with pytest.raises(PayloadKeyError, match="'test-a'") as missing:
        await codec_keys.converter(KEY_B).decode(written, [dict])
    assert "SAVES_ENCRYPTION_KEYS" in str(missing.value) and "test-b" in str(missing.value)


async def test_a_wrong_key_under_the_same_id_is_an_error_not_garbage() -> None:
    written = await codec_keys.converter(KEY_A).encode(["x"])
    impostor = "test-a:" + KEY_B.split(":", 1)[1]
    with pytest.raises(PayloadKeyError, match=r"'test-a'.*wrong"):
        await codec_keys.converter(impostor).decode(written, [str])


async def test_payloads_that_were_never_encrypted_pass_through() -> None:
    plain = pydantic_data_converter.payload_converter.to_payloads([{"a": 1}])
    assert await codec_keys.converter().decode(plain, [dict]) == [{"a": 1}]


def test_no_key_is_an_error_naming_the_variables_and_off_is_explicit(tmp_path: Path) -> None:
    with pytest.raises(EncryptionSettingsError, match=r"SAVES_ENCRYPTION_KEYS.*SAVES_ENCRYPTION_KEY_FILE"):
        data_converter(_settings(tmp_path))
    plain = data_converter(_settings(tmp_path, encryption="off"))
    assert plain.payload_codec is None and plain.payload_converter_class is SharedPydanticPayloadConverter


def test_bad_keys_name_the_variable_and_the_key_id(tmp_path: Path) -> None:
    with pytest.raises(EncryptionSettingsError, match="SAVES_ENCRYPTION_KEYS: key 'k1' is not base64"):
        key_ring(_settings(tmp_path, encryption_keys=SecretStr("k1:not*base64")))
    short = base64.b64encode(b"x" * 16).decode()
    with pytest.raises(EncryptionSettingsError, match="key 'k1' is 16 bytes"):
        key_ring(_settings(tmp_path, encryption_keys=SecretStr(f"k1:{short}")))
    with pytest.raises(EncryptionSettingsError, match="SAVES_ENCRYPTION_KEY_FILE"):
        key_ring(_settings(tmp_path, encryption_key_file=tmp_path / "absent"))
    with pytest.raises(EncryptionSettingsError, match="appears twice"):
        parse_keys(f"{KEY_A},{KEY_A}", "SAVES_ENCRYPTION_KEYS")


def test_the_key_file_saves_up_creates_is_private_and_used(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    path = ensure_key_file(settings)
    assert path is not None and oct(path.stat().st_mode)[-3:] == "600"
    ring = key_ring(settings)
    assert ring is not None and ring.ids == [path.read_text().split(":")[0]]
    assert ensure_key_file(settings) == path and key_ring(settings) == ring  # never replaced
    assert ensure_key_file(_settings(tmp_path, encryption_keys=SecretStr(new_key()))) is None


async def test_a_save_written_with_a_is_read_with_b_a_and_not_with_b(
    harness: Harness, time_env: WorkflowEnvironment
) -> None:
    """Rotation on a real save: the history the worker wrote with key A, read by clients with other keys."""
    await harness.start("northwind", TriggerKind.PRODUCT_GAP)
    await harness.act(
        "northwind", SaveWorkflow.record_outcome, RecordOutcome(kind=OutcomeKind.LOST, reason="went elsewhere")
    )
    await harness.wait_in_stage("northwind", "exit")
    target = time_env.client.service_client.config.target_host

    rotated = await Client.connect(target, data_converter=codec_keys.converter(f"{KEY_B},{KEY_A}"))
    runs = await fetch_save_runs(rotated, workflow_id("northwind"))
    assert runs[0].start is not None and runs[0].start.trigger is not None
    assert runs[0].start.trigger.account_id == "northwind"
    state = await rotated.get_workflow_handle(workflow_id("northwind")).query(SaveWorkflow.state)
    assert state.outcome is not None and state.outcome.reason == "went elsewhere"

    only_b = await Client.connect(target, data_converter=codec_keys.converter(KEY_B))
    with pytest.raises(PayloadKeyError, match="'test-a'"):
        await fetch_save_runs(only_b, workflow_id("northwind"))


def _api(access: CodecAccess) -> httpx.AsyncClient:
    codec = EncryptionCodec(codec_keys.ring())
    app = create_app(secrets=["webhook-secret"], codec=codec, codec_access=access)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app, client=("203.0.113.9", 5000)), base_url="http://t")


def _json(payloads: list[Payload]) -> dict[str, object]:
    return {
        "payloads": [
            {
                "metadata": {k: base64.b64encode(v).decode() for k, v in p.metadata.items()},
                "data": base64.b64encode(p.data).decode(),
            }
            for p in payloads
        ]
    }


async def test_the_codec_server_answers_the_ui_and_refuses_the_rest() -> None:
    sealed = await codec_keys.converter().encode([{"email": "priya.nair@northwind.example.org"}])
    access = CodecAccess(tokens=(TOKEN,), origins=(UI,), namespaces=("default",))
    async with _api(access) as http:
        # The browser's preflight, as the Temporal UI triggers it.
        pre = await http.options(
            "/codec/decode",
            headers={
                "Origin": UI,
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "authorization,content-type,x-namespace",
            },
        )
        assert pre.status_code == 204
        assert pre.headers["access-control-allow-origin"] == UI
        allowed = {h.strip().lower() for h in pre.headers["access-control-allow-headers"].split(",")}
        assert {"authorization", "content-type", "x-namespace"} <= allowed
        assert "POST" in pre.headers["access-control-allow-methods"]
        assert pre.headers["access-control-allow-credentials"] == "true"

        ui_headers = {"Origin": UI, "Content-Type": "application/json", "X-Namespace": "default"}
        decoded = await http.post(
            "/codec/decode", json=_json(sealed), headers={**ui_headers, "Authorization": f"Bearer {TOKEN}"}
        )
        assert decoded.status_code == 200, decoded.text
        assert decoded.headers["access-control-allow-origin"] == UI
        payload = decoded.json()["payloads"][0]
        assert base64.b64decode(payload["metadata"]["encoding"]) == b"json/plain"
        assert b"priya.nair@northwind.example.org" in base64.b64decode(payload["data"])

        encoded = await http.post(
            "/codec/encode", json=decoded.json(), headers={**ui_headers, "Authorization": f"Bearer {TOKEN}"}
        )
        assert encoded.status_code == 200
        assert base64.b64decode(encoded.json()["payloads"][0]["metadata"]["encoding"]) == ENCODING

        refused = await http.post("/codec/decode", json=_json(sealed), headers=ui_headers)
        assert refused.status_code == 401 and "priya" not in refused.text
        assert refused.headers["access-control-allow-origin"] == UI  # the UI can show why
        wrong = await http.post(
            "/codec/decode", json=_json(sealed), headers={**ui_headers, "Authorization": "Bearer guess"}
        )
        assert wrong.status_code == 401
        elsewhere = await http.post(
            "/codec/decode",
            json=_json(sealed),
            headers={**ui_headers, "Origin": "https://evil.example", "Authorization": f"Bearer {TOKEN}"},
        )
        assert elsewhere.status_code == 403 and "access-control-allow-origin" not in elsewhere.headers
        other_ns = await http.post(
            "/codec/decode",
            json=_json(sealed),
            headers={**ui_headers, "X-Namespace": "payroll", "Authorization": f"Bearer {TOKEN}"},
        )
        assert other_ns.status_code == 403
        garbage = await http.post(
            "/codec/decode", content=b"{nope", headers={**ui_headers, "Authorization": f"Bearer {TOKEN}"}
        )
        assert garbage.status_code == 400
        # The rest of the API still needs its webhook signature, whatever the codec token.
        api = await http.get("/saves", headers={"Authorization": f"Bearer {TOKEN}"})
        assert api.status_code == 401


async def test_without_a_token_only_loopback_calls_pass_when_allowed() -> None:
    sealed = await codec_keys.converter().encode(["hello"])
    remote = _api(CodecAccess(origins=(UI,), allow_loopback=True))
    async with remote as http:
        answer = await http.post("/codec/decode", json=_json(sealed), headers={"Origin": UI})
        assert answer.status_code == 401 and "SAVES_CODEC_TOKEN" in answer.text
    app = create_app(
        secrets=["s"],
        codec=EncryptionCodec(codec_keys.ring()),
        codec_access=CodecAccess(origins=(UI,), allow_loopback=True),
    )
    local = httpx.AsyncClient(transport=httpx.ASGITransport(app=app, client=("127.0.0.1", 5000)), base_url="http://t")
    async with local as http:
        answer = await http.post("/codec/decode", json=_json(sealed), headers={"Origin": UI})
        assert answer.status_code == 200
    app = create_app(secrets=["s"], codec=EncryptionCodec(codec_keys.ring()), codec_access=CodecAccess(origins=(UI,)))
    closed = httpx.AsyncClient(transport=httpx.ASGITransport(app=app, client=("127.0.0.1", 5000)), base_url="http://t")
    async with closed as http:
        assert (await http.post("/codec/decode", json=_json(sealed), headers={"Origin": UI})).status_code == 401


def test_every_converter_a_worker_builds_shares_one_pydantic_payload_converter() -> None:
    """Temporal's worker builds a data converter (so a payload converter) twice per workflow activation; ours
    hands back one instance, which must stay free of serialization context for that to be right."""
    converter = codec_keys.converter()
    again = dataclasses.replace(converter)  # what the worker does for every activation
    assert converter.payload_converter_class is SharedPydanticPayloadConverter
    assert SharedPydanticPayloadConverter() is SharedPydanticPayloadConverter()
    shared = SharedPydanticPayloadConverter()
    context = WorkflowSerializationContext(namespace="default", workflow_id="save-northwind")
    assert shared.with_context(context) is shared
    assert again.with_context(context).payload_converter.to_payloads([OutcomeKind.SAVED]) == (
        converter.payload_converter.to_payloads([OutcomeKind.SAVED])
    )
    payload = again.payload_converter.to_payloads([{"account": "northwind"}])
    assert converter.payload_converter.from_payloads(payload, [dict[str, str]]) == [{"account": "northwind"}]
