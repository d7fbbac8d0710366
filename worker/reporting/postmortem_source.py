"""Where a post-mortem comes from: Temporal's history while it has it, the archive after.

``saves postmortem`` and ``saves report`` both read through here, so the fallback rule lives in
one place: history first (it is the truth, and covers running saves), archive when the history
is gone (retention passed, or the namespace was reset).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from activities.save_history import RunFacts, fetch_run, group_by_save, postmortem_of
from activities.store.archive import Archive
from worker.runtime.save_client import SaveError, workflow_id
from workflows.ids import account_of
from workflows.models import SaveState
from workflows.postmortem import PostMortem
from workflows.save import SaveWorkflow

QUERY_TIMEOUT = timedelta(seconds=5)


def split_target(target: str) -> tuple[str, str]:
    """``northwind`` or ``save-northwind`` -> (workflow id, account id)."""
    account = account_of(target)
    return workflow_id(account), account


async def _runs(client: Client, wf_id: str, every_save: bool) -> list[RunFacts]:
    """The runs of the latest save (or all saves), stopping quietly where retention cut history."""
    runs = [await fetch_run(client, wf_id, None)]
    while runs[0].previous_run_id and (every_save or not runs[0].opens_a_save):
        try:
            runs.insert(0, await fetch_run(client, wf_id, runs[0].previous_run_id))
        except RPCError as exc:
            if exc.status is not RPCStatusCode.NOT_FOUND:
                raise
            break
    return runs


async def _live_state(client: Client, run: RunFacts) -> SaveState | None:
    if run.ended_as != "running":
        return None
    try:
        handle = client.get_workflow_handle(run.workflow_id, run_id=run.run_id)
        state: SaveState = await handle.query(SaveWorkflow.state, rpc_timeout=QUERY_TIMEOUT)
        return state
    except Exception:  # no worker to answer, or it just continued as new: use the history alone
        return None


async def from_temporal(
    client: Client, target: str, save_id: str | None = None, now: datetime | None = None
) -> list[PostMortem]:
    """Post-mortems of the account's latest save, or of the save ``save_id`` (a prefix will do);
    with ``save_id="*"`` every save still in the history. Raises NOT_FOUND as :class:`RPCError`."""
    wf_id, _ = split_target(target)
    now = now or datetime.now(UTC)
    runs = await _runs(client, wf_id, every_save=save_id is not None)
    saves = group_by_save(runs)
    if save_id not in (None, "*"):
        assert save_id is not None
        saves = {k: v for k, v in saves.items() if k.startswith(save_id)}
    elif save_id is None:
        latest = runs[-1].save_id
        saves = {latest: saves[latest]}
    records = []
    for save_runs in saves.values():
        live = await _live_state(client, save_runs[-1])
        records.append(postmortem_of(save_runs, now, live_state=live))
    return records


async def postmortems(
    client: Client | None, archive: Archive, target: str, save_id: str | None = None, now: datetime | None = None
) -> tuple[list[PostMortem], str]:
    """The post-mortems asked for and where they came from (``temporal`` or ``archive``)."""
    wf_id, account = split_target(target)
    if client is not None:
        try:
            found = await from_temporal(client, target, save_id, now)
            if found:
                return found, "temporal"
        except RPCError as exc:
            if exc.status is not RPCStatusCode.NOT_FOUND:
                raise
    archived = await archive.records(account_id=account)
    if save_id not in (None, "*"):
        assert save_id is not None
        archived = [r for r in archived if r.save_id.startswith(save_id)]
    elif save_id is None:
        archived = archived[-1:]
    if not archived:
        where = "in Temporal or in the archive" if client is not None else "in the archive"
        raise SaveError(
            f"no save {'matching ' + save_id + ' ' if save_id not in (None, '*') else ''}for {wf_id} {where}"
        )
    return archived, "archive"
