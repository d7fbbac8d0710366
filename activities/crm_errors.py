"""Which CRM failures are worth retrying, whatever the CRM.

Every adapter raises its own errors (HubSpot's and Salesforce's REST answers, SQLAlchemy's). The
activities ask :func:`retryable` once, so the rule lives in one place: a CRM that is busy, down or
rate-limited delays a step (Temporal retries it); data the CRM rejects fails the step at once,
because sending the same request again can never succeed.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from pydantic import ValidationError
from sqlalchemy.exc import DataError, IntegrityError, OperationalError, ProgrammingError, StatementError
from temporalio.exceptions import ApplicationError

CRM_REJECTED = "CrmRejected"
"""Error type of the non-retryable failure for a request the CRM refused on its content."""


class CrmError(RuntimeError):
    """A CRM refused or failed a request; ``retryable`` says whether sending it again can help."""

    def __init__(self, message: str, *, retryable: bool) -> None:
        super().__init__(message)
        self.retryable = retryable


class RejectedByCrm(CrmError):
    """The request's data can never be accepted as sent (unknown account, invalid field)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, retryable=False)


def http_status_retryable(status: int) -> bool:
    """0 (unreachable), 401/403 (credentials an operator can fix), 408, 429 and 5xx are retried."""
    return status in (0, 401, 403, 408, 429) or status >= 500


def retryable(exc: BaseException) -> bool:
    """Whether an activity that raised ``exc`` should be tried again."""
    if isinstance(exc, CrmError):
        return exc.retryable
    if isinstance(exc, OperationalError):  # database locked, connection lost
        return True
    if isinstance(exc, IntegrityError | DataError | ProgrammingError):
        return False
    if isinstance(exc, StatementError):
        return not isinstance(exc.orig, ValueError | TypeError)
    # A value read from the CRM that the save cannot carry (an infinite ARR) fails at once; anything else
    # (a surprising answer, a bug fixed by a deploy) is retried by Temporal.
    return not isinstance(exc, ValidationError)


@contextmanager
def rejections_fail_fast() -> Iterator[None]:
    """Turn an error the CRM will give again into Temporal's non-retryable failure; let others retry."""
    try:
        yield
    except ApplicationError:
        raise
    except Exception as exc:
        if retryable(exc):
            raise
        raise ApplicationError(str(exc), type=CRM_REJECTED, non_retryable=True) from exc
