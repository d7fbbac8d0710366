"""Which CRM the activities talk to, from ``SAVES_CRM``: the SQL store (default) or HubSpot."""

from __future__ import annotations

from activities.crm import CrmAdapter
from activities.hubspot.client import HubSpotClient
from activities.hubspot.crm import HubSpotCrm
from activities.store.sql_crm import SqlCrm
from worker.settings import Settings


class CrmSettingsError(ValueError):
    """The chosen CRM lacks a setting it needs; the message names it."""


def make_crm(settings: Settings, store: SqlCrm) -> CrmAdapter:
    if settings.crm == "sql":
        return store
    if settings.hubspot_token is None:
        raise CrmSettingsError("SAVES_CRM=hubspot needs SAVES_HUBSPOT_TOKEN (a private-app access token)")
    client = HubSpotClient(settings.hubspot_token.get_secret_value(), settings.hubspot_base_url)
    return HubSpotCrm(client, settings.hubspot_team_owners, settings.hubspot_account_property)
