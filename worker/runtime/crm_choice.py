"""Which CRM the activities talk to, from ``SAVES_CRM``: the SQL store (default), HubSpot or Salesforce."""

from __future__ import annotations

from activities.crm import CrmAdapter
from activities.hubspot.client import HubSpotClient
from activities.hubspot.crm import HubSpotCrm
from activities.salesforce.client import ClientCredentials, SalesforceClient
from activities.salesforce.crm import SalesforceCrm
from activities.store.sql_crm import SqlCrm
from worker.runtime.settings import Settings


class CrmSettingsError(ValueError):
    """The chosen CRM lacks a setting it needs; the message names it."""


def make_crm(settings: Settings, store: SqlCrm) -> CrmAdapter:
    if settings.crm == "sql":
        return store
    if settings.crm == "salesforce":
        return _salesforce(settings)
    if settings.hubspot_token is None:
        raise CrmSettingsError("SAVES_CRM=hubspot needs SAVES_HUBSPOT_TOKEN (a private-app access token)")
    client = HubSpotClient(settings.hubspot_token.get_secret_value(), settings.hubspot_base_url)
    return HubSpotCrm(client, settings.hubspot_team_owners, settings.hubspot_account_property)


def _salesforce(settings: Settings) -> SalesforceCrm:
    missing = [
        f"SAVES_SALESFORCE_{name.upper()}"
        for name in ("login_url", "client_id", "client_secret")
        if getattr(settings, f"salesforce_{name}") is None
    ]
    if missing:
        raise CrmSettingsError(f"SAVES_CRM=salesforce needs {', '.join(missing)} (the connected app's)")
    assert settings.salesforce_login_url and settings.salesforce_client_id and settings.salesforce_client_secret
    auth = ClientCredentials(
        settings.salesforce_login_url,
        settings.salesforce_client_id,
        settings.salesforce_client_secret.get_secret_value(),
    )
    return SalesforceCrm(
        SalesforceClient(auth, api_version=settings.salesforce_api_version),
        settings.salesforce_team_owners,
        settings.salesforce_account_field,
        settings.salesforce_owner_roles,
    )
