"""A save's workflow id is ``save-<account id>``: one running save per account, found by its id."""

from __future__ import annotations

PREFIX = "save-"


def save_workflow_id(account_id: str) -> str:
    """The workflow id of an account's save; a second trigger for the account joins this one."""
    return f"{PREFIX}{account_id}"


def account_of(target: str) -> str:
    """``northwind`` or ``save-northwind`` -> ``northwind`` (people type either)."""
    return target.removeprefix(PREFIX)
