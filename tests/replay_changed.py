"""Two versions of one change to the save workflow (a pause at the start of every run), for the
replay gate: careless, it breaks every running save; behind ``workflow.patched`` it does not.

Kept in its own module: the workflow sandbox re-imports the module that defines a workflow, so it
must have no side effects at import time (the test module reads files when it is imported).
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from workflows.models import SaveInput, SaveResult
    from workflows.save import SaveWorkflow


@workflow.defn(name="Save")
class SaveWithAnExtraTimer(SaveWorkflow):
    """A pause before anything else, as if someone added a wait at the start of every run."""

    @workflow.run
    async def run(self, inp: SaveInput) -> SaveResult:
        await workflow.sleep(timedelta(seconds=1))
        return await super().run(inp)


@workflow.defn(name="Save")
class SaveWithAPatchedTimer(SaveWorkflow):
    """The same pause, released the safe way: runs recorded without it replay without it."""

    @workflow.run
    async def run(self, inp: SaveInput) -> SaveResult:
        if workflow.patched("pause-at-start"):
            await workflow.sleep(timedelta(seconds=1))
        return await super().run(inp)
