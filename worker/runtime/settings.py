"""Configuration from environment variables (prefix ``SAVES_``), never from edited code."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from playbook_defs.loader import PLAYBOOK_DIR
from playbook_defs.vocabulary import OwnerRole

if TYPE_CHECKING:  # the mailer (Jinja2, the outbox's SQL) is imported only by what sends email
    from activities.mailer import SmtpSettings

DEFAULT_TEMPORAL_ADDRESS = "localhost:7233"
"""Where ``saves up`` runs Temporal by default, and where every command looks unless told otherwise."""


class Settings(BaseSettings):
    """Every setting, its environment variable and its default; the README lists them."""

    model_config = SettingsConfigDict(env_prefix="SAVES_", env_file=".env", extra="ignore")

    data_dir: Path = Path(".saves")
    """Where the embedded default keeps its files: the Temporal dev server's database and the CRM."""
    temporal_address: str = DEFAULT_TEMPORAL_ADDRESS
    temporal_namespace: str = "default"
    task_queue: str = "save-playbooks"
    temporal_tls: bool = False
    temporal_tls_ca: Path | None = None
    temporal_tls_cert: Path | None = None
    temporal_tls_key: Path | None = None
    temporal_tls_server_name: str | None = None
    """Server name (SNI) to check the cluster's certificate against, when it differs from the address."""
    temporal_api_key: SecretStr | None = None
    temporal_profile: str | None = None
    """A profile of Temporal's client configuration file (TOML), e.g. ``prod``; ``SAVES_TEMPORAL_*``
    values that are set win over the profile's, and ``TEMPORAL_*`` variables over both file and default."""
    temporal_config_file: Path | None = None
    """Temporal's client configuration file; default: ``TEMPORAL_CONFIG_FILE`` or Temporal's usual place."""
    ui_port: int = 8233

    database_url: str | None = None
    """SQLAlchemy URL of the SQL store; default: a SQLite file in ``data_dir``."""
    playbook_dir: Path = PLAYBOOK_DIR

    crm: Literal["sql", "hubspot", "salesforce"] = "sql"
    """Where accounts, owners, contacts, tasks and notes live: the SQL store, HubSpot or Salesforce."""
    hubspot_token: SecretStr | None = None
    """A HubSpot private-app access token (scopes: CRM objects companies, contacts, owners; tasks; notes)."""
    hubspot_base_url: str = "https://api.hubapi.com"
    hubspot_account_property: str = "saves_account_id"
    """The company property that holds our account id."""
    hubspot_team_owners: dict[str, str] = {}
    """Team-wide HubSpot owner id per role, as JSON: {"cs_manager": "123", "executive_sponsor": "456"}."""
    hubspot_app_secret: SecretStr | None = None
    """The HubSpot app's client secret: it signs HubSpot's webhooks (``POST /crm/hubspot/webhook``)."""
    hubspot_webhook_url: str | None = None
    """The webhook's public URL as set in HubSpot (it is signed); default: the URL the API sees."""
    crm_sync_every: timedelta = timedelta(minutes=5)
    """How often the reconciler reads what people did in the CRM (a missed webhook waits at most this long)."""
    salesforce_login_url: str | None = None
    """The org's My Domain URL, e.g. https://acme.my.salesforce.com (the token endpoint lives there)."""
    salesforce_client_id: str | None = None
    """The connected app's consumer key."""
    salesforce_client_secret: SecretStr | None = None
    """The connected app's consumer secret (client-credentials flow)."""
    salesforce_username: str | None = None
    """JWT bearer flow: the Salesforce username the saves act as (with ``SALESFORCE_PRIVATE_KEY_FILE``)."""
    salesforce_private_key_file: Path | None = None
    """JWT bearer flow: PEM private key whose certificate is uploaded to the connected app."""
    salesforce_audience: str = "https://login.salesforce.com"
    """JWT bearer flow: ``https://test.salesforce.com`` for a sandbox."""
    salesforce_api_version: str = "v60.0"
    salesforce_account_field: str = "Saves_Account_Id__c"
    """The Account external-id field that holds our account id."""
    salesforce_team_owners: dict[str, str] = {}
    """Team-wide Salesforce User id per role, as JSON: {"cs_manager": "005..."}."""
    salesforce_owner_roles: list[OwnerRole] = [r for r in OwnerRole if r is not OwnerRole.CSM]
    """Roles with an Account lookup field to User (``Saves_Cs_Manager__c`` ...); the CSM is the Account owner."""

    smtp_host: str | None = None
    """Emails are delivered over SMTP only when this is set; they are always kept in the outbox."""
    smtp_port: int = 25
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_starttls: bool = False
    smtp_timeout: float = 30.0
    """Seconds to wait for the SMTP relay at each step; an email whose end-of-data answer does not
    come in time is ``uncertain`` in the outbox and is resent only by an operator."""
    email_from: str = "Customer Success <saves@localhost>"
    ops_email: str | None = Field(default=None, pattern=r"^[^@\s]+@[^@\s]+$", max_length=320)
    """Operations' address: told once for each step of a save that needs attention (a refused email,
    data the CRM refuses). Unset: the notice is kept in the outbox, undelivered."""

    webhook_secret: SecretStr | None = None
    """HMAC secret(s) of signed API requests; comma-separated while rotating (the first one signs).
    Unset: the secret ``saves up`` wrote to ``data_dir/webhook_secret``."""
    webhook_require_v2: bool = False
    """Refuse signed requests without a ``v2`` signature (bound to the method, path and
    Idempotency-Key), once every sender signs ``v2``; by default ``v1`` alone is still accepted."""
    api_host: str = "127.0.0.1"
    api_port: int = 8000
    api_max_body: int = 64 * 1024
    """Largest request body the API reads, in bytes; larger ones get 413."""
    api_remember_days: int = 7
    """How long the API remembers answers to idempotent requests (senders stop redelivering by then)."""

    encryption: Literal["on", "off"] = "on"
    """``off`` is the only way to send payloads to Temporal in plaintext (tests of old histories, debugging)."""
    encryption_keys: SecretStr | None = None
    """Payload keys as ``id:base64key`` pairs, comma-separated; the first encrypts, all decrypt.
    Unset: ``encryption_key_file``, else the key file ``saves up`` wrote to ``data_dir/encryption_keys``."""
    encryption_key_file: Path | None = None
    """A file of ``id:base64key`` lines (the first encrypts), e.g. a mounted secret."""
    codec_token: SecretStr | None = None
    """Bearer token(s) the codec server (``/codec/encode``, ``/codec/decode``) accepts; comma-separated
    while rotating."""
    codec_origins: str | None = None
    """Browser origins allowed to call the codec server, comma-separated; default the embedded UI
    (``http://localhost:{ui_port}``)."""
    codec_jwks_url: str | None = None
    """JWKS of the identity provider whose access tokens the Temporal UI passes ("pass the user access
    token"); set, the codec server also accepts those tokens (checked as JWTs)."""
    codec_jwt_issuer: str | None = None
    codec_jwt_audience: str | None = None
    codec_jwt_allow: str | None = None
    """Who may decode with a UI token: emails or ``@domain``s, comma-separated (the token's ``email``, else ``sub``)."""
    codec_allow_loopback: bool = False
    """Let the codec server answer unauthenticated calls from this machine (``saves up`` sets it: the
    embedded UI cannot send a token)."""

    log_format: Literal["console", "json"] | None = None
    """Unset: JSON lines for ``saves worker`` (for log shippers), readable lines elsewhere."""
    log_level: str = "INFO"

    worker_max_cached_workflows: int = Field(default=500, ge=0)
    """Saves kept in the worker's memory between their tasks (about 0.37 MB each); the others are
    replayed from their history at their next step."""
    worker_max_concurrent_workflow_tasks: int = Field(default=20, ge=1)
    """Workflow tasks the worker runs at once (all on one event loop)."""
    worker_max_concurrent_activities: int = Field(default=20, ge=1)
    """Activities the worker runs at once."""
    worker_workflow_pollers: int = Field(default=4, ge=1)
    """Concurrent long polls for workflow tasks."""
    worker_activity_pollers: int = Field(default=4, ge=1)
    """Concurrent long polls for activity tasks."""
    worker_graceful_stop_seconds: float = Field(default=10, ge=0, le=3600, allow_inf_nan=False)
    """How long a stopping worker lets the activities it is running finish before it cancels them."""

    @property
    def db_url(self) -> str:
        return self.database_url or f"sqlite+aiosqlite:///{(self.data_dir / 'crm.db').resolve()}"

    @property
    def hubspot_secret(self) -> str | None:
        return self.hubspot_app_secret.get_secret_value() if self.hubspot_app_secret else None

    @property
    def smtp(self) -> SmtpSettings | None:
        if not self.smtp_host:
            return None
        from activities.mailer import SmtpSettings

        return SmtpSettings(
            host=self.smtp_host,
            port=self.smtp_port,
            username=self.smtp_username,
            password=self.smtp_password.get_secret_value() if self.smtp_password else None,
            starttls=self.smtp_starttls,
            sender=self.email_from,
            timeout=self.smtp_timeout,
        )
