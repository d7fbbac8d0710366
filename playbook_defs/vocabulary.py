"""The words a save is described in: roles, tiers, trigger kinds, stages, outcomes.

One place for them so the playbook schema, the workflow, the CRM store and the command line
agree on spelling. They are string enums so they read well in YAML, JSON and the Temporal UI.
"""

from __future__ import annotations

from enum import StrEnum

ACCOUNT_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$"
"""Account ids: letters, digits, '.', '_' and '-'. A save's workflow id is derived from one."""


class OwnerRole(StrEnum):
    """Who owns a step inside our company (a step without a named owner stalls)."""

    CSM = "csm"
    CS_MANAGER = "cs_manager"
    HEAD_OF_CS = "head_of_cs"
    EXECUTIVE_SPONSOR = "executive_sponsor"
    PRODUCT_MANAGER = "product_manager"
    ENGINEERING = "engineering"
    SUPPORT = "support"
    SALES = "sales"
    SALES_ENGINEER = "sales_engineer"
    FINANCE = "finance"


class Tier(StrEnum):
    """Account segment; enterprise saves add executive-sponsor steps, SMB leans on automation."""

    ENTERPRISE = "enterprise"
    MID_MARKET = "mid_market"
    SMB = "smb"


class RiskColour(StrEnum):
    """The CRM's account risk status: green (acceptable), yellow (could turn red), red (may churn or cut spend)."""

    GREEN = "green"
    YELLOW = "yellow"
    RED = "red"


class TriggerKind(StrEnum):
    """Risk signals that can open a save: onboarding, value and usage, renewal, sponsorship, product
    gaps, or explicit notice (cancellation, competitor, champion leaving)."""

    ONBOARDING_DELAY = "onboarding_delay"
    LOW_USAGE = "low_usage"
    NO_EVIDENT_VALUE = "no_evident_value"
    RENEWAL_RISK = "renewal_risk"
    PRICING_OBJECTION = "pricing_objection"
    PAYMENT_PAST_DUE = "payment_past_due"
    SPONSOR_LOST = "sponsor_lost"
    SPONSOR_DISENGAGED = "sponsor_disengaged"
    NO_BUSINESS_REVIEW = "no_business_review"
    PRODUCT_GAP = "product_gap"
    SUPPORT_ESCALATION = "support_escalation"
    CANCELLATION_REQUEST = "cancellation_request"
    COMPETITOR_EVALUATION = "competitor_evaluation"
    CHAMPION_DEPARTURE = "champion_departure"
    HEALTH_DROP = "health_drop"
    MANUAL = "manual"


class CancellationReason(StrEnum):
    """The reason a customer states when asking to cancel; it picks the playbook."""

    PRODUCT = "product"
    VALUE = "value"
    SERVICE = "service"
    BUDGET = "budget"
    COMPETITOR = "competitor"
    CHAMPION = "champion"


class Stage(StrEnum):
    """Where a save stands. The first three follow the playbook's task stages."""

    INVESTIGATION = "investigation"
    PLAN = "plan"
    INTERVENTION = "intervention"
    AWAITING_OUTCOME = "awaiting_outcome"
    RECOVERY = "recovery"
    EXIT = "exit"
    CLOSED = "closed"
    TRIAGE = "triage"
    """Triage chose the exit path; a CS manager may still override it before anything is sent."""


STEP_STAGES = (Stage.INVESTIGATION, Stage.PLAN, Stage.INTERVENTION)


class OutcomeKind(StrEnum):
    """How a save ended: saved, partially saved (downgrade, fewer seats), lost, or farewell (chosen not to save)."""

    SAVED = "saved"
    PARTIALLY_SAVED = "partially_saved"
    LOST = "lost"


class RootCauseCategory(StrEnum):
    """What the five whys ended at; often not what the trigger said (a "budget cut" is often a value problem)."""

    PRODUCT = "product"
    VALUE = "value"
    SERVICE = "service"
    BUDGET = "budget"
    COMPETITION = "competition"
    RELATIONSHIP = "relationship"
    OTHER = "other"


class AccountFlag(StrEnum):
    """Why an account matters beyond its ARR: value is not the same as ARR, and vocal detractors and
    advocates weigh more than their revenue."""

    STRATEGIC = "strategic"
    REFERENCE_CUSTOMER = "reference_customer"
    VOCAL_DETRACTOR = "vocal_detractor"
    VOCAL_PROMOTER = "vocal_promoter"
    WINDING_DOWN = "winding_down"
    """The customer is going out of business or closing the unit that uses us."""


class Fit(StrEnum):
    """How well the customer fits our product and business model (a bad fit means a farewell, not a rescue)."""

    GOOD = "good"
    PARTIAL = "partial"
    POOR = "poor"


class SponsorStatus(StrEnum):
    """The customer's business sponsor for our product."""

    ENGAGED = "engaged"
    DISENGAGED = "disengaged"
    LOST = "lost"
