"""Every custom search attribute a save keeps current, in one place.

Search attributes are stored unencrypted and shown to everyone with UI access, so they hold
ids, enums, numbers and dates only: never a person's or customer contact's name or email.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from temporalio.common import SearchAttributeKey

ACCOUNT_ID = SearchAttributeKey.for_keyword("SaveAccountId")
PLAYBOOK = SearchAttributeKey.for_keyword("SavePlaybook")
STAGE = SearchAttributeKey.for_keyword("SaveStage")
RISK = SearchAttributeKey.for_keyword("SaveRisk")
TIER = SearchAttributeKey.for_keyword("SaveTier")
OWNER = SearchAttributeKey.for_keyword("SaveOwnerId")
ARR = SearchAttributeKey.for_float("SaveArr")
OUTCOME = SearchAttributeKey.for_keyword("SaveOutcome")
FIRST_CONTACT_BROKEN = SearchAttributeKey.for_bool("SaveFirstContactBroken")
ESCALATION_LEVEL = SearchAttributeKey.for_int("SaveEscalationLevel")
OVERDUE_COUNT = SearchAttributeKey.for_int("SaveOverdueCount")
NEXT_DEADLINE = SearchAttributeKey.for_datetime("SaveNextDeadline")
"""The earliest open deadline; in the past when that item is overdue."""
NEXT_CHECK = SearchAttributeKey.for_datetime("SaveNextCheck")
"""During recovery: when the next 30/60/90-day check is due (planned or open)."""
NEEDS_ATTENTION = SearchAttributeKey.for_bool("SaveNeedsAttention")
"""True while a step that failed for good (an email refused or of unknown fate, data the CRM
refused) waits for an operator. Upserted only by runs past the patch ``NEEDS_ATTENTION_PATCH``."""
NEEDS_ATTENTION_PATCH = "needs-attention-attribute"
"""``workflow.patched`` id of upserting ``SaveNeedsAttention``: runs recorded before it never did."""

ALL_KEYS: tuple[SearchAttributeKey[Any], ...] = (
    ACCOUNT_ID,
    PLAYBOOK,
    STAGE,
    RISK,
    TIER,
    OWNER,
    ARR,
    OUTCOME,
    FIRST_CONTACT_BROKEN,
    ESCALATION_LEVEL,
    OVERDUE_COUNT,
    NEXT_DEADLINE,
    NEXT_CHECK,
    NEEDS_ATTENTION,
)

_CLI_TYPE_NAMES = {
    "KEYWORD": "Keyword",
    "FLOAT": "Double",
    "DOUBLE": "Double",
    "BOOL": "Bool",
    "INT": "Int",
    "DATETIME": "Datetime",
    "TEXT": "Text",
    "KEYWORD_LIST": "KeywordList",
}


def type_name(key: SearchAttributeKey[Any]) -> str:
    """The attribute's type as Temporal's CLI and UI name it: ``Keyword``, ``Bool``, ..."""
    return _CLI_TYPE_NAMES[key.indexed_value_type.name]


def cli_flags() -> list[str]:
    """``--search-attribute Name=Type`` flags for ``temporal server start-dev``."""
    flags = []
    for key in ALL_KEYS:
        flags += ["--search-attribute", f"{key.name}={type_name(key)}"]
    return flags


SearchValues = dict[SearchAttributeKey[Any], str | int | float | bool | datetime | None]
