"""Tables of the SQL store. Keys on tasks, notes and the outbox make retried writes no-ops."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    LargeBinary,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class UtcDateTime(TypeDecorator[datetime]):
    """Stores UTC and always hands back an aware datetime, on SQLite as on PostgreSQL."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}; pass an aware UTC datetime")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    type_annotation_map: ClassVar[dict[Any, Any]] = {datetime: UtcDateTime, dict[str, Any]: JSON}


TEAM = "*"
"""``owners.account_id`` of the team-wide owner of a role, used where an account names none."""


class Account(Base):
    __tablename__ = "accounts"

    id: Mapped[str] = mapped_column(String(128), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    tier: Mapped[str] = mapped_column(String(32))
    arr: Mapped[float] = mapped_column(Float)
    renewal_date: Mapped[date | None] = mapped_column(Date)
    health: Mapped[int | None] = mapped_column(Integer)
    usage_pct: Mapped[float | None] = mapped_column(Float)
    risk_status: Mapped[str] = mapped_column(String(16), default="green")
    attributes: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # What triage weighs beside ARR: strategic and advocacy flags, fit.
    flags: Mapped[list[str]] = mapped_column(JSON, default=list, server_default="[]")
    fit: Mapped[str | None] = mapped_column(String(16))
    sponsor_status: Mapped[str | None] = mapped_column(String(16))
    # The risk scan's signals: onboarding, usage, renewal, billing, sponsorship.
    onboarding_started: Mapped[date | None] = mapped_column(Date)
    live_since: Mapped[date | None] = mapped_column(Date)
    renewal_likelihood: Mapped[float | None] = mapped_column(Float)
    payment_overdue_since: Mapped[date | None] = mapped_column(Date)
    """Due date of the oldest unpaid invoice."""
    last_business_review: Mapped[date | None] = mapped_column(Date)
    # What the last risk scan found; rules that fired then do not fire again until they clear.
    risk_set_by: Mapped[str] = mapped_column(String(16), default="scan", server_default="scan")
    """``save`` while a save set the status last: the scan may raise it but never lowers it."""
    scan_fired: Mapped[list[str]] = mapped_column(JSON, default=list, server_default="[]")
    scanned_at: Mapped[datetime | None]


class Owner(Base):
    """Who in our company owns a role for an account (or, with ``account_id='*'``, for the team)."""

    __tablename__ = "owners"

    account_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    role: Mapped[str] = mapped_column(String(32), primary_key=True)
    owner_id: Mapped[str] = mapped_column(String(128))
    name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(320))


class Contact(Base):
    __tablename__ = "contacts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(320))
    role: Mapped[str] = mapped_column(String(32))
    primary: Mapped[bool] = mapped_column(Boolean, default=False)


class CrmTask(Base):
    __tablename__ = "crm_tasks"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    key: Mapped[str] = mapped_column(String(400), unique=True)
    account_id: Mapped[str] = mapped_column(String(128), index=True)
    save_id: Mapped[str] = mapped_column(String(128), index=True)
    owner_role: Mapped[str] = mapped_column(String(32))
    owner_id: Mapped[str | None] = mapped_column(String(128))
    owner_name: Mapped[str | None] = mapped_column(String(200))
    title: Mapped[str] = mapped_column(String(400))
    body: Mapped[str] = mapped_column(Text, default="")
    due_at: Mapped[datetime]
    status: Mapped[str] = mapped_column(String(16), default="open")
    created_at: Mapped[datetime]
    closed_at: Mapped[datetime | None]


class CrmChange(Base):
    """Something done in the SQL CRM by a person (``saves crm task done``, ``saves crm log-call``),
    kept for the saves to hear of; ``id`` is the cursor the reconciler reads from."""

    __tablename__ = "crm_changes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(32))
    source_id: Mapped[str] = mapped_column(String(200))
    account_id: Mapped[str | None] = mapped_column(String(128), index=True)
    task_key: Mapped[str | None] = mapped_column(String(400))
    by_name: Mapped[str | None] = mapped_column(String(200))
    by_id: Mapped[str | None] = mapped_column(String(128))
    channel: Mapped[str | None] = mapped_column(String(16))
    contact: Mapped[str | None] = mapped_column(String(200))
    role: Mapped[str | None] = mapped_column(String(32))
    owner_id: Mapped[str | None] = mapped_column(String(128))
    owner_name: Mapped[str | None] = mapped_column(String(200))
    owner_email: Mapped[str | None] = mapped_column(String(320))
    at: Mapped[datetime]
    """When it happened (a call logged late carries the time of the call)."""
    recorded_at: Mapped[datetime]


class CrmInbox(Base):
    """A webhook event a CRM sent, kept as received until it is processed. One row per the
    CRM's event id, so a redelivered webhook is recorded once."""

    __tablename__ = "crm_inbox"
    __table_args__ = (UniqueConstraint("crm", "event_id", name="uq_crm_inbox_event"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    crm: Mapped[str] = mapped_column(String(16))
    event_id: Mapped[str] = mapped_column(String(200))
    object_type: Mapped[str] = mapped_column(String(64))
    object_id: Mapped[str] = mapped_column(String(64))
    change: Mapped[str] = mapped_column(String(64))
    """The CRM's name for what happened (HubSpot's ``subscriptionType``, e.g. ``object.propertyChange``)."""
    occurred_at: Mapped[datetime]
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    received_at: Mapped[datetime]
    processed_at: Mapped[datetime | None] = mapped_column(index=True)


class CrmSyncCursor(Base):
    """Where the CRM reconciler stopped reading changes, per CRM; it moves once the events are delivered."""

    __tablename__ = "crm_sync_cursors"

    crm: Mapped[str] = mapped_column(String(16), primary_key=True)
    cursor: Mapped[str | None] = mapped_column(String(200))
    updated_at: Mapped[datetime]


class TimelineNote(Base):
    __tablename__ = "timeline_notes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    key: Mapped[str] = mapped_column(String(400), unique=True)
    account_id: Mapped[str] = mapped_column(String(128), index=True)
    save_id: Mapped[str] = mapped_column(String(128))
    text: Mapped[str] = mapped_column(Text)
    at: Mapped[datetime]


class RiskChange(Base):
    __tablename__ = "risk_changes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    account_id: Mapped[str] = mapped_column(String(128), index=True)
    save_id: Mapped[str | None] = mapped_column(String(128))
    status: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(Text)
    at: Mapped[datetime]


class HealthSnapshot(Base):
    __tablename__ = "health_snapshots"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    account_id: Mapped[str] = mapped_column(String(128), index=True)
    health: Mapped[int | None] = mapped_column(Integer)
    usage_pct: Mapped[float | None] = mapped_column(Float)
    at: Mapped[datetime]


class OutboxEmail(Base):
    """Every email a save sends, sent or not. ``key`` (save + step) is unique: one send per key."""

    __tablename__ = "outbox"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    key: Mapped[str] = mapped_column(String(400), unique=True)
    account_id: Mapped[str] = mapped_column(String(128), index=True)
    save_id: Mapped[str] = mapped_column(String(128), index=True)
    template: Mapped[str] = mapped_column(String(64))
    recipient: Mapped[str] = mapped_column(String(32))
    to_address: Mapped[str | None] = mapped_column(String(320))
    to_name: Mapped[str | None] = mapped_column(String(200))
    subject: Mapped[str] = mapped_column(String(400))
    body: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16))
    message_id: Mapped[str] = mapped_column(String(200))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]
    sent_at: Mapped[datetime | None]
    resend_token: Mapped[str | None] = mapped_column(String(200))
    """The last operator retry that put this email back to ``pending`` (each one does so once)."""


class ApiRequest(Base):
    """An answer the HTTP API gave to an idempotent request (see ``activities/store/idempotency.py``)."""

    __tablename__ = "api_requests"

    key: Mapped[str] = mapped_column(String(400), primary_key=True)
    fingerprint: Mapped[str] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(16))
    status_code: Mapped[int | None] = mapped_column(Integer)
    body: Mapped[bytes | None] = mapped_column(LargeBinary)
    content_type: Mapped[str | None] = mapped_column(String(100))
    claimed_at: Mapped[datetime]
    finished_at: Mapped[datetime | None]


class ArchivedSave(Base):
    """An ended save: its post-mortem record (JSON) and its zlib-compressed history (see
    ``activities/store/archive.py``); kept after Temporal's retention drops the history."""

    __tablename__ = "save_archive"

    save_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    workflow_id: Mapped[str] = mapped_column(String(200), index=True)
    account_id: Mapped[str] = mapped_column(String(128), index=True)
    playbook_id: Mapped[str] = mapped_column(String(64), index=True)
    tier: Mapped[str] = mapped_column(String(32))
    owner_id: Mapped[str | None] = mapped_column(String(128))
    outcome: Mapped[str] = mapped_column(String(32))
    arr: Mapped[float] = mapped_column(Float)
    opened_at: Mapped[datetime] = mapped_column(index=True)
    closed_at: Mapped[datetime | None]
    archived_at: Mapped[datetime]
    record: Mapped[str] = mapped_column(Text)
    history: Mapped[bytes] = mapped_column(LargeBinary)
    history_bytes: Mapped[int]
