"""Which CRM the activities talk to, from ``SAVES_CRM``: the SQL store (default), HubSpot or Salesforce."""

from __future__ import annotations

from activities.crm import CrmAdapter
from activities.hubspot.client import HubSpotClient
from activities.hubspot.crm import HubSpotCrm
from activities.salesforce.client import ClientCredentials, JwtBearer, SalesforceClient
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
    """The JWT bearer flow when a private key is configured, else client credentials."""
    auth: ClientCredentials | JwtBearer
    if settings.salesforce_private_key_file is not None:
        needed = {"login_url": settings.salesforce_login_url, "client_id": settings.salesforce_client_id}
        needed["username"] = settings.salesforce_username
    else:
        needed = {"login_url": settings.salesforce_login_url, "client_id": settings.salesforce_client_id}
        needed["client_secret"] = (
            settings.salesforce_client_secret.get_secret_value() if settings.salesforce_client_secret else None
        )
    missing = [f"SAVES_SALESFORCE_{name.upper()}" for name, value in needed.items() if not value]
    if missing:
        raise CrmSettingsError(f"SAVES_CRM=salesforce needs {', '.join(missing)} (the connected app's)")
    login_url, client_id = str(needed["login_url"]), str(needed["client_id"])
    if settings.salesforce_private_key_file is not None:
        try:
            key = settings.salesforce_private_key_file.read_text()
        except OSError as exc:
            raise CrmSettingsError(f"SAVES_SALESFORCE_PRIVATE_KEY_FILE: cannot read it ({exc.strerror})") from None
        auth = JwtBearer(login_url, client_id, str(needed["username"]), key, settings.salesforce_audience)
    else:
        auth = ClientCredentials(login_url, client_id, str(needed["client_secret"]))
    return SalesforceCrm(
        SalesforceClient(auth, api_version=settings.salesforce_api_version),
        settings.salesforce_team_owners,
        settings.salesforce_account_field,
        settings.salesforce_owner_roles,
    )
