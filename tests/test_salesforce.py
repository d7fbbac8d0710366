"""The Salesforce adapter's own behaviour beyond the contract: OAuth, duplicate external ids, the
composite write, and a save run with ``SAVES_CRM=salesforce``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from pydantic import SecretStr
from temporalio.testing import WorkflowEnvironment

from activities.crm_errors import retryable
from activities.salesforce.client import ClientCredentials, SalesforceClient, SalesforceError
from activities.salesforce.crm import SalesforceCrm
from activities.store.db import make_engine
from activities.store.sql_crm import SqlCrm
from playbook_defs.vocabulary import CancellationReason, RiskColour, TriggerKind
from tests import fake_salesforce
from tests.crm_worlds import World, salesforce_world
from tests.harness import Harness, SmtpSink
from tests.test_crm_contract import AT, SAVE, task
from worker.runtime.crm_choice import CrmSettingsError, make_crm
from worker.runtime.settings import Settings
from workflows.contracts import RiskStatusRequest


@pytest.fixture
async def sf() -> AsyncIterator[World]:
    async with salesforce_world() as w:
        yield w


async def test_an_expired_token_is_fetched_again_once(sf: World) -> None:
    assert await sf.crm.get_account("northwind") is not None
    sf.native.expire_tokens()
    assert await sf.crm.read_health("northwind") is not None
    statuses = [(m, p.rsplit("/", 1)[-1], s) for m, p, s in sf.native.requests]
    assert statuses.count(("POST", "token", 200)) == 2
    assert ("GET", "query", 401) in statuses


async def test_wrong_connected_app_credentials_name_salesforce_s_reason(sf: World) -> None:
    client = SalesforceClient(ClientCredentials(sf.native.url, fake_salesforce.CLIENT_ID, "wrong"))
    try:
        with pytest.raises(SalesforceError, match="400 invalid_client: invalid client credentials") as raised:
            await client.query("SELECT Id FROM Account")
        assert retryable(raised.value)  # an operator fixes the secret; the step waits meanwhile
    finally:
        await client.aclose()


async def test_a_duplicate_external_id_is_read_as_the_record_already_made(sf: World) -> None:
    assert isinstance(sf.crm, SalesforceCrm)
    first = await sf.crm.create_task(task("save-northwind/task/call"), None)
    with pytest.raises(SalesforceError) as raised:
        await sf.crm.client.request(
            "POST", "/sobjects/Task", {"WhatId": sf.extra["account"], "Saves_Key__c": "save-northwind/task/call"}
        )
    assert raised.value.code == "DUPLICATE_VALUE" and not raised.value.retryable
    assert SalesforceCrm._already_made(raised.value) == first
    assert sf.native.creates("Task") == 1


async def test_risk_status_and_its_note_go_in_one_composite_request(sf: World) -> None:
    await sf.crm.set_risk_status(RiskStatusRequest(save=SAVE, risk=RiskColour.RED, reason="cancellation", at=AT))
    writes = [(m, p) for m, p, _ in sf.native.requests if m != "GET"]
    assert [p.rsplit("/", 1)[-1] for _, p in writes if "token" not in p] == ["composite"]
    assert await sf.risk() == ("red", 1)


async def test_a_bad_field_value_is_rejected_without_retry(sf: World) -> None:
    assert isinstance(sf.crm, SalesforceCrm)
    with pytest.raises(SalesforceError) as raised:
        await sf.crm.client.request("PATCH", f"/sobjects/Account/{sf.extra['account']}", {"No_Such__c": 1})
    assert raised.value.code == "INVALID_FIELD" and not retryable(raised.value)
    sf.native.update("Account", sf.extra["account"], {"Saves_Tier__c": "gold"})
    with pytest.raises(Exception, match="Saves_Tier__c 'gold' must be one of") as bad_tier:
        await sf.crm.get_account("northwind")
    assert not retryable(bad_tier.value)


async def test_salesforce_needs_its_connected_app_settings(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'crm.db'}")
    try:
        with pytest.raises(CrmSettingsError, match="SAVES_SALESFORCE_CLIENT_ID, SAVES_SALESFORCE_CLIENT_SECRET"):
            make_crm(Settings(crm="salesforce", salesforce_login_url="https://acme.my.salesforce.com"), SqlCrm(engine))
    finally:
        await engine.dispose()


async def test_saves_crm_salesforce_sends_a_save_s_work_to_salesforce(
    sf: World, time_env: WorkflowEnvironment, settings: Settings, smtp: SmtpSink
) -> None:
    on_salesforce = settings.model_copy(
        update={
            "crm": "salesforce",
            "salesforce_login_url": sf.native.url,
            "salesforce_client_id": fake_salesforce.CLIENT_ID,
            "salesforce_client_secret": SecretStr(fake_salesforce.CLIENT_SECRET),
            "salesforce_team_owners": {
                "cs_manager": sf.users["dana"],
                "head_of_cs": sf.users["dana"],
                "executive_sponsor": sf.users["mei"],
            },
        }
    )
    async with Harness.running(time_env, on_salesforce, smtp) as h:
        await h.start("northwind", TriggerKind.CANCELLATION_REQUEST, reason=CancellationReason.PRODUCT)
        await h.sleep(hours=1)
        state = await h.state("northwind")
        opened = {f"{state.save_id}/task/{t.id}" for t in state.tasks.values() if t.opened_at}
        assert opened and opened <= set(await sf.tasks())
        assert await h.crm_tasks("northwind") == []  # nothing went to the SQL store's CRM tables
        assert (await sf.risk())[0] == "red"
        assert any("dana.reyes@ourco.example.com" in str(m["To"]) for m in smtp.messages)


def _rsa_pem() -> tuple[str, str]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    public = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    return private, public


async def test_the_jwt_bearer_flow_signs_in_as_the_named_user(sf: World, tmp_path: Path) -> None:
    private, public = _rsa_pem()
    sf.native.jwt_public_key = public
    sf.native.update("User", sf.users["dana"], {"Username": "dana@ourco.example.com"})
    key_file = tmp_path / "salesforce.key"
    key_file.write_text(private)
    settings = Settings(
        crm="salesforce",
        salesforce_login_url=sf.native.url,
        salesforce_client_id=fake_salesforce.CLIENT_ID,
        salesforce_username="dana@ourco.example.com",
        salesforce_private_key_file=key_file,
    )
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'crm.db'}")
    crm = make_crm(settings, SqlCrm(engine))
    try:
        assert isinstance(crm, SalesforceCrm)
        assert await crm.get_account("northwind") is not None
        assert await crm.client.whoami() == sf.users["dana"]
        key_file.write_text(_rsa_pem()[0])  # a key the connected app does not know
        stranger = make_crm(settings, SqlCrm(engine))
        assert isinstance(stranger, SalesforceCrm)
        with pytest.raises(SalesforceError, match="invalid_grant: invalid assertion"):
            await stranger.get_account("northwind")
        await stranger.aclose()
        with pytest.raises(CrmSettingsError, match="SAVES_SALESFORCE_USERNAME"):
            make_crm(settings.model_copy(update={"salesforce_username": None}), SqlCrm(engine))
    finally:
        await crm.aclose()  # type: ignore[attr-defined]
        await engine.dispose()
