"""Two versions of one change to the save workflow (a pause at the start of every run), for the
replay gate: careless, it breaks every running save; behind ``workflow.patched`` it does not. And
the save as it was before ``SaveNeedsAttention``, with that attribute released without its patch.

Kept in its own module: the workflow sandbox re-imports the module that defines a workflow, so it
must have no side effects at import time (the test module reads files when it is imported).
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from workflows.models import SaveInput, SaveResult
    from workflows.save import SaveWorkflow
    from workflows.save.publish import Publisher


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


class _PublisherBeforeTheAttribute(Publisher):
    def upserts_needs_attention(self) -> bool:
        return False


class _PublisherWithoutThePatch(Publisher):
    def upserts_needs_attention(self) -> bool:
        return True


@workflow.defn(name="Save")
class SaveBeforeTheAttribute(SaveWorkflow):
    """The save as released before ``SaveNeedsAttention``: it never upserts it, nor asks for the patch."""

    def __init__(self) -> None:
        super().__init__()
        self._run.publisher = _PublisherBeforeTheAttribute()

    @workflow.run
    async def run(self, inp: SaveInput) -> SaveResult:
        return await super().run(inp)


@workflow.defn(name="Save")
class SaveWithTheAttributeUnpatched(SaveWorkflow):
    """``SaveNeedsAttention`` released the careless way: upserted by every run, old ones too."""

    def __init__(self) -> None:
        super().__init__()
        self._run.publisher = _PublisherWithoutThePatch()

    @workflow.run
    async def run(self, inp: SaveInput) -> SaveResult:
        return await super().run(inp)
