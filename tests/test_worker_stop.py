"""A worker that is told to stop lets the activities it is running finish instead of cancelling them."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import Any

import pytest
from pydantic import ValidationError
from temporalio import activity
from temporalio.testing import WorkflowEnvironment

from tests.harness import Harness, SmtpSink
from worker.runtime.runner import Services, WorkerTuning
from worker.runtime.settings import Settings
from workflows.contracts import ActivityName, OpenInCrmRequest


class SlowOpening:
    """``open_in_crm`` as the worker runs it, only slower: it is still running when the worker stops."""

    def __init__(self, services: Services) -> None:
        self.services = services
        self.started = asyncio.Event()
        self.finished = False
        self.cancelled = False

    @activity.defn(name=ActivityName.OPEN_IN_CRM.value)
    async def open_in_crm(self, request: OpenInCrmRequest) -> None:
        self.started.set()
        try:
            await asyncio.sleep(0.5)
        except asyncio.CancelledError:
            self.cancelled = True
            raise
        await self.services.crm_activities.open_in_crm(request)
        self.finished = True

    def activities(self) -> Sequence[Callable[..., Any]]:
        others = [a for a in self.services.activities() if a.__name__ != "open_in_crm"]
        return [*others, self.open_in_crm]


async def test_a_stopping_worker_lets_the_running_activity_finish(
    time_env: WorkflowEnvironment, settings: Settings, smtp: SmtpSink
) -> None:
    slow: list[SlowOpening] = []

    def activities(services: Services) -> Sequence[Callable[..., Any]]:
        slow.append(SlowOpening(services))
        return slow[0].activities()

    async with Harness.running(time_env, settings, smtp, activities) as h:
        await h.trigger("bluepeak", playbook="budget")
        await asyncio.wait_for(slow[0].started.wait(), 30)
    # leaving the harness stopped its worker while the activity slept
    assert slow[0].finished and not slow[0].cancelled


def test_the_stop_grace_comes_from_the_settings_and_a_bad_one_is_named() -> None:
    assert WorkerTuning.from_settings(Settings(worker_graceful_stop_seconds=2.5)).graceful_stop == timedelta(
        seconds=2.5
    )
    for bad in (-1, float("nan"), float("inf"), 10**9):
        with pytest.raises(ValidationError, match="worker_graceful_stop_seconds"):
            Settings(worker_graceful_stop_seconds=bad)
