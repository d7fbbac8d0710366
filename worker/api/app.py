"""The HTTP API: report triggers, read saves, and every human action the command line has.

``create_app`` builds it over a :class:`SaveClient`; ``saves api`` and ``saves up`` serve it
with uvicorn. Every path except the OpenAPI document, the docs and ``/healthz`` needs a signed
request (see :mod:`worker.api.signature`).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.exceptions import HTTPException as StarletteHTTPException
from temporalio.client import WorkflowExecution, WorkflowExecutionStatus
from temporalio.converter import PayloadCodec
from temporalio.service import RPCError

from activities.store.idempotency import IdempotencyStore
from playbook_defs.vocabulary import ACCOUNT_ID_PATTERN, RiskColour, Stage
from worker.api import hubspot_webhook
from worker.api.codec import CodecAccess, CodecEndpoints
from worker.api.gate import Idempotent, SignedRequests
from worker.api.models import (
    AttentionAnswer,
    CompleteTaskBody,
    ErrorBody,
    FieldProblem,
    FulfilBody,
    RetryAttentionBody,
    SaveSummary,
    SaveView,
    SkipAttentionBody,
    TriggerAccepted,
    TriggerReport,
)
from worker.runtime.listing import FilterError, SaveFilter
from worker.runtime.save_client import (
    NoRoute,
    NoSave,
    NotAnswering,
    Refused,
    SaveClient,
    SaveError,
    UnknownAccount,
    UnknownItem,
    new_trigger_id,
)
from workflows import search_attributes as sa
from workflows.ids import account_of, save_workflow_id
from workflows.models import (
    AddCommitment,
    AttentionAction,
    Commitment,
    CompleteTask,
    FlagHelp,
    FulfilCommitment,
    HelpRequest,
    Outcome,
    OwnerChange,
    ReassignOwner,
    RecordOutcome,
    RecordRootCause,
    ResolveAttention,
    RootCause,
    Task,
    Trigger,
)
from workflows.save import SaveWorkflow
from workflows.triage_models import OverrideTriage, TriageDecision

DEFAULT_MAX_BODY = 64 * 1024
ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorBody, "description": text}
    for code, text in {
        400: "Malformed JSON",
        401: "Missing, wrong or stale signature",
        404: "Unknown account, no save, or no such task, commitment or item needing attention on the save",
        409: "The save refused the action (the message says why)",
        413: "Body too large",
        422: "Invalid request; `fields` names each field",
        503: "Temporal or the worker is not answering",
    }.items()
}
AccountPath = Annotated[
    str, Path(pattern=ACCOUNT_ID_PATTERN, max_length=128, description="The account id, as in the CRM.")
]
ItemId = Annotated[str, Path(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9._-]+$")]
OwnerFilter = Annotated[
    str | None, Query(max_length=128, pattern=r"^[A-Za-z0-9._@-]+$", description="Only saves owned by this CSM id.")
]


def create_app(
    saves: SaveClient | None = None,
    *,
    engine: AsyncEngine | None = None,
    secrets: Sequence[str],
    max_body: int = DEFAULT_MAX_BODY,
    lifespan: Any = None,
    hubspot_app_secret: str | None = None,
    hubspot_webhook_url: str | None = None,
    codec: PayloadCodec | None = None,
    codec_access: CodecAccess | None = None,
    require_v2: bool = False,
) -> FastAPI:
    """The API over ``saves``, remembering answers in the SQL store behind ``engine``; or, with
    ``lifespan``, over the client and engine it puts in ``app.state.saves`` and ``app.state.engine``
    (``saves api`` connects to Temporal only once the server starts)."""
    if not secrets:
        raise ValueError("the API needs at least one webhook secret")
    app = FastAPI(
        title="save-playbooks",
        version="1",
        summary="Durable save playbooks: report risk triggers, read saves, act on them.",
        description=(
            "Every request except `/openapi.json`, `/docs` and `/healthz` is signed: header "
            '`Saves-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<raw body>">`, or, bound to the '
            'request, `v2=<hex HMAC-SHA256 of "<t>.<METHOD> <path?query>.<Idempotency-Key>.<raw body>">`. '
            "A POST with an `Idempotency-Key` header (or an `event_id` in a trigger) is run once; "
            "a redelivery returns the first answer."
        ),
        lifespan=lifespan,
        responses=ERRORS,
    )
    if saves is not None:
        app.state.saves = saves
    if engine is not None:
        app.state.engine = engine
    app.state.idempotency = None
    app.state.hubspot_app_secret = hubspot_app_secret
    app.state.hubspot_webhook_url = hubspot_webhook_url
    _handlers(app)
    _routes(app)
    app.include_router(hubspot_webhook.router)
    app.add_middleware(Idempotent, store_of=lambda: _store(app))
    app.add_middleware(SignedRequests, secrets=secrets, max_body=max_body, require_bound=require_v2)
    if codec is not None:  # outermost: the codec paths have their own authorization, not the signature
        app.add_middleware(CodecEndpoints, codec=codec, access=codec_access or CodecAccess())
    return app


def _store(app: FastAPI) -> IdempotencyStore:
    if app.state.idempotency is None:
        app.state.idempotency = IdempotencyStore(app.state.engine)
    store: IdempotencyStore = app.state.idempotency
    return store


def _saves(request: Request) -> SaveClient:
    saves: SaveClient = request.app.state.saves
    return saves


Saves = Annotated[SaveClient, Depends(_saves)]


# --- errors ----------------------------------------------------------------------------------------


def _error(status: int, error: str, message: str, fields: list[FieldProblem] | None = None) -> JSONResponse:
    return JSONResponse(ErrorBody(error=error, message=message, fields=fields or []).model_dump(), status_code=status)


def _field(loc: Sequence[Any]) -> str:
    parts = [str(p) for p in loc if p not in ("body", "path", "query", "header")]
    return ".".join(parts) or "body"


def _handlers(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = list(exc.errors())
        if any(e.get("type") == "json_invalid" for e in errors):
            return _error(400, "malformed_json", "the body is not valid JSON")
        problems = [
            FieldProblem(
                field=_field(e.get("loc", ())), message=str(e.get("msg", "invalid")).removeprefix("Value error, ")
            )
            for e in errors
        ]
        summary = "; ".join(f"{p.field}: {p.message}" for p in problems)
        return _error(422, "invalid_request", summary, problems)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        names = {404: "not_found", 405: "method_not_allowed"}
        return _error(exc.status_code, names.get(exc.status_code, "http_error"), str(exc.detail))

    @app.exception_handler(FilterError)
    async def bad_filter(request: Request, exc: FilterError) -> JSONResponse:
        return _error(422, "invalid_request", str(exc))

    @app.exception_handler(SaveError)
    async def save_error(request: Request, exc: SaveError) -> JSONResponse:
        if isinstance(exc, UnknownItem):
            return _error(404, "not_found", str(exc), [FieldProblem(field=exc.field, message=str(exc))])
        if isinstance(exc, UnknownAccount | NoSave):
            return _error(404, "not_found", str(exc))
        if isinstance(exc, NoRoute):
            return _error(422, "no_playbook", str(exc), [FieldProblem(field=exc.field, message=str(exc))])
        if isinstance(exc, Refused):
            return _error(409, "refused", str(exc))
        if isinstance(exc, NotAnswering):
            return _error(503, "unavailable", str(exc))
        return _error(422, "invalid_request", str(exc))


# --- endpoints -------------------------------------------------------------------------------------


def _routes(app: FastAPI) -> None:
    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.post("/triggers", status_code=202, response_model=TriggerAccepted, tags=["triggers"])
    async def report_trigger(body: TriggerReport, saves: Saves) -> TriggerAccepted:
        """Report a risk signal: starts the account's save, or is recorded on the save already
        running (never two saves for one account). The trigger's snapshot (signals, rule and
        version, source, when) is kept on the save: it answers "why did this save start?"."""
        fields = body.model_dump(exclude={"event_id"})
        trigger = Trigger(trigger_id=body.event_id or new_trigger_id(), **fields)
        result = await saves.trigger(trigger)
        return TriggerAccepted(
            account_id=trigger.account_id,
            workflow_id=result.workflow_id,
            run_id=result.run_id,
            trigger_id=trigger.trigger_id,
            playbook=result.playbook,
            started=not result.merged,
        )

    @app.get("/saves", response_model=list[SaveSummary], tags=["saves"])
    async def list_saves(
        saves: Saves,
        stage: Stage | None = None,
        playbook: Annotated[str | None, Query(max_length=100, pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]*$")] = None,
        risk: RiskColour | None = None,
        owner: OwnerFilter = None,
        include_closed: bool = False,
        needs_attention: Annotated[
            bool,
            Query(
                description="Only saves with a step that failed for good (an email refused or of unknown fate, "
                "data the CRM refused), waiting for an operator."
            ),
        ] = False,
        limit: Annotated[int, Query(ge=1, le=500)] = 100,
    ) -> list[SaveSummary]:
        """Saves from Temporal's visibility store: the same query as `saves list` and the Temporal UI."""
        query = SaveFilter(
            playbooks=[playbook] if playbook else (),
            stages=[stage] if stage else (),
            owner=owner,
            risks=[risk] if risk else (),
            include_closed=include_closed,
            needs_attention=needs_attention,
        ).query(datetime.now(UTC))
        found: list[SaveSummary] = []
        try:
            async for wf in saves.client.list_workflows(query, limit=limit):
                found.append(_summary(wf))
        except (RPCError, RuntimeError) as exc:
            raise NotAnswering(f"cannot list saves: {exc}") from exc
        return found

    @app.get("/saves/{account_id}", response_model=SaveView, tags=["saves"])
    async def show_save(account_id: AccountPath, saves: Saves) -> SaveView:
        """Where the save stands, why it started, and its whole state."""
        state, details = await saves.state_and_details(account_id)
        return SaveView(
            account_id=account_id,
            workflow_id=save_workflow_id(account_id),
            details=details,
            why=state.triggers[0],
            triggers=state.triggers,
            state=state,
        )

    @app.post("/saves/{account_id}/tasks/{task_id}/complete", response_model=Task, tags=["actions"])
    async def complete_task(account_id: AccountPath, task_id: ItemId, body: CompleteTaskBody, saves: Saves) -> Task:
        """Mark a task done; its escalation ladder stops."""
        request = CompleteTask(task_id=task_id, **body.model_dump())
        return await saves.complete_task(account_id, request)

    @app.post("/saves/{account_id}/commitments", response_model=Commitment, status_code=201, tags=["actions"])
    async def add_commitment(account_id: AccountPath, body: AddCommitment, saves: Saves) -> Commitment:
        """Record a promise made to the customer; it is tracked and escalated if late."""
        result: Commitment = await saves.update(account_id, SaveWorkflow.add_commitment, body)
        return result

    @app.post("/saves/{account_id}/commitments/{commitment_id}/fulfil", response_model=Commitment, tags=["actions"])
    async def fulfil_commitment(
        account_id: AccountPath, commitment_id: ItemId, body: FulfilBody, saves: Saves
    ) -> Commitment:
        """Mark a commitment delivered."""
        request = FulfilCommitment(commitment_id=commitment_id, **body.model_dump())
        return await saves.fulfil_commitment(account_id, request)

    @app.post("/saves/{account_id}/root-cause", response_model=RootCause, tags=["actions"])
    async def root_cause(account_id: AccountPath, body: RecordRootCause, saves: Saves) -> RootCause:
        """Record the root cause found with the five whys."""
        result: RootCause = await saves.update(account_id, SaveWorkflow.record_root_cause, body)
        return result

    @app.post("/saves/{account_id}/help", response_model=HelpRequest, status_code=201, tags=["actions"])
    async def flag_help(account_id: AccountPath, body: FlagHelp, saves: Saves) -> HelpRequest:
        """Ask another team for help: they get a task with a deadline and an escalation ladder."""
        result: HelpRequest = await saves.update(account_id, SaveWorkflow.flag_help, body)
        return result

    @app.post("/saves/{account_id}/owner", response_model=OwnerChange, tags=["actions"])
    async def reassign_owner(account_id: AccountPath, body: ReassignOwner, saves: Saves) -> OwnerChange:
        """Hand the save (or one role's part of it) to another person."""
        result: OwnerChange = await saves.update(account_id, SaveWorkflow.reassign_owner, body)
        return result

    @app.post("/saves/{account_id}/outcome", response_model=Outcome, tags=["actions"])
    async def record_outcome(account_id: AccountPath, body: RecordOutcome, saves: Saves) -> Outcome:
        """Record how the save ended. Saved starts the 90-day recovery; lost starts the exit."""
        result: Outcome = await saves.update(account_id, SaveWorkflow.record_outcome, body)
        return result

    @app.post("/saves/{account_id}/attention/{item}/retry", response_model=AttentionAnswer, tags=["actions"])
    async def retry_attention(
        account_id: AccountPath, item: ItemId, body: RetryAttentionBody, saves: Saves
    ) -> AttentionAnswer:
        """Run a step that needs attention again, after fixing its cause (an email is sent once more).
        The answer says whether it worked: ``resolved``, or ``open`` with the failure in the last decision."""
        request = ResolveAttention(item=item, action=AttentionAction.RETRY, **body.model_dump())
        found = await saves.resolve_attention(account_id, request)
        return AttentionAnswer(account_id=account_id, status=found.status, item=found)

    @app.post("/saves/{account_id}/attention/{item}/skip", response_model=AttentionAnswer, tags=["actions"])
    async def skip_attention(
        account_id: AccountPath, item: ItemId, body: SkipAttentionBody, saves: Saves
    ) -> AttentionAnswer:
        """Leave a step that needs attention undone, with a reason; the save goes on without it."""
        request = ResolveAttention(item=item, action=AttentionAction.SKIP, **body.model_dump())
        found = await saves.resolve_attention(account_id, request)
        return AttentionAnswer(account_id=account_id, status=found.status, item=found)

    @app.post("/saves/{account_id}/triage", response_model=TriageDecision, tags=["actions"])
    async def override_triage(account_id: AccountPath, body: OverrideTriage, saves: Saves) -> TriageDecision:
        """Override the save's triage within its window (zone and/or strategy), or confirm it."""
        result: TriageDecision = await saves.update(account_id, SaveWorkflow.override_triage, body)
        return result


def _summary(wf: WorkflowExecution) -> SaveSummary:
    attrs = wf.typed_search_attributes

    def get(key: Any) -> Any:
        return attrs.get(key)

    status = wf.status.name.lower() if isinstance(wf.status, WorkflowExecutionStatus) else "unknown"
    account = get(sa.ACCOUNT_ID) or account_of(wf.id)
    return SaveSummary(
        account_id=account,
        workflow_id=wf.id,
        run_id=wf.run_id,
        status=status,
        playbook=get(sa.PLAYBOOK),
        stage=get(sa.STAGE),
        risk=get(sa.RISK),
        tier=get(sa.TIER),
        arr=get(sa.ARR),
        owner_id=get(sa.OWNER),
        overdue=get(sa.OVERDUE_COUNT),
        needs_attention=get(sa.NEEDS_ATTENTION),
        started_at=wf.start_time,
        closed_at=wf.close_time,
    )
