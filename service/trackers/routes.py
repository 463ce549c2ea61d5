"""The tracker routes: /v1/tracker (the connection: admins) and pushes of backlog items to it (reviewers)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Request, Response
from fastapi.concurrency import run_in_threadpool

from service.core.deps import ActorDep, JobsDep, RuntimeDep
from service.core.schemas import DryRun, IdPath, IdValue, JobCreated, errors
from service.trackers import hooks, jobs, service
from service.trackers.http import TrackerError
from service.trackers.schemas import (
    MAX_PUSH,
    HookHeard,
    HookSecret,
    HookSetup,
    PlannedPublic,
    PullJobPublic,
    PushJobPublic,
    PushPreview,
    PushRequest,
    TrackerCheck,
    TrackerPublic,
    TrackerSet,
)

router = APIRouter(prefix="/v1/tracker", tags=["tracker"])


@router.get("", response_model=TrackerPublic | None)
def get_tracker(runtime: RuntimeDep) -> TrackerPublic | None:
    """This project's tracker (never its token), or null when none is connected."""
    with runtime.db.session() as session:
        row = service.get_connection(session)
        return service.public(row, session) if row else None


@router.put("", response_model=TrackerPublic, responses=errors(422))
def set_tracker(body: TrackerSet, runtime: RuntimeDep, actor: ActorDep) -> TrackerPublic:
    """Connect this project to Jira Cloud (site, project key, account email, API token), GitHub issues (owner/repo,
    token) or Linear (team key, API key), or change the connection. POST /v1/tracker/check tries it."""
    with runtime.db.session() as session:
        return service.public(service.set_connection(session, body, actor))


@router.delete("", status_code=204, responses=errors(404))
def remove_tracker(runtime: RuntimeDep) -> Response:
    """Forget the connection and its token. Items sent keep their keys (a re-import still finds them)."""
    with runtime.db.session() as session:
        session.delete(service.connection(session))
    return Response(status_code=204)


@router.post("/check", response_model=TrackerCheck, responses=errors(404))
async def check_tracker(runtime: RuntimeDep) -> TrackerCheck:
    """Call the tracker with the kept token: who it says the token belongs to and whether the project or
    repository is there. Nothing is written."""
    with runtime.db.session() as session:
        tracker = service.client(service.connection(session))
    try:
        return TrackerCheck(ok=True, detail=await run_in_threadpool(tracker.check))
    except TrackerError as exc:
        return TrackerCheck(ok=False, detail=str(exc))
    finally:
        tracker.close()


@router.get("/hook", response_model=HookSetup, responses=errors(404))
def get_hook(runtime: RuntimeDep, request: Request) -> HookSetup:
    """Where the tracker sends its webhooks so its changes show here at once, the secret it signs them with, and
    what to pick there; the last webhook heard."""
    with runtime.db.session() as session:
        row = service.connection(session)
        return service.hook_setup(session, row, str(request.base_url))


@router.put("/hook", response_model=HookSetup, responses=errors(404, 422))
def set_hook_secret(runtime: RuntimeDep, request: Request, body: HookSecret | None = None) -> HookSetup:
    """Set the webhook secret: the one given (Linear makes its own), or a new random one (the old stops working)."""
    with runtime.db.session() as session:
        row = service.connection(session)
        row.hook_secret = (body.secret if body else None) or service.new_hook_secret()
        return service.hook_setup(session, row, str(request.base_url))


@router.post("/hook", response_model=HookHeard, responses=errors(401, 404, 422, 502))
async def tracker_hook(runtime: RuntimeDep, request: Request) -> HookHeard:
    """A webhook from the tracker (Jira, GitHub, Linear), signed with this project's secret: the issue it names is
    read from the tracker and imported, as a pull of it alone would be. Events about other issues, deletions and pings
    are taken and ignored (200, `imported` false); a missing or wrong signature is 401."""
    body = await request.body()
    try:
        heard = await run_in_threadpool(hooks.receive, runtime, body, request.headers)
    except TrackerError as exc:
        raise HTTPException(status_code=502, detail=str(exc)) from exc
    return HookHeard(key=heard.key, imported=heard.imported, detail=heard.detail)


@router.get("/pending", response_model=PushPreview, responses=errors(404, 422))
def pending(runtime: RuntimeDep, item_ids: list[IdValue] | None = Query(None, max_length=MAX_PUSH)) -> PushPreview:
    """What a push of these items (default: as a push takes them) would do now: how many it would create, update and
    skip, and which, with the fields each update would send. Nothing is written and the tracker is not called."""
    with runtime.db.session() as session:
        planned = service.preview(session, item_ids)
        tracker = service.describe(service.connection(session))
    shown = [PlannedPublic.model_validate(p) for p in planned if p.outcome != service.Outcome.unchanged]
    return PushPreview(tracker=tracker, items=shown, **service.counted(planned))


@router.post("/push", status_code=202, response_model=JobCreated, responses=errors(404, 422, 429))
def push(runtime: RuntimeDep, runner: JobsDep, actor: ActorDep, body: PushRequest | None = None) -> JobCreated:
    """Send items to the tracker as a job: an item of no tracker is created there (and takes the issue's key), an
    item already there is updated with what changed here since; `order`: then the ranked issues are put in the
    backlog's order there (Jira's rank). Poll the status URL."""
    job = jobs.create_job(runtime, body.item_ids if body else None, actor, body.order if body else False)
    runner.submit(jobs.JOB, job.id)
    return JobCreated(job_id=job.id, status_url=f"/v1/tracker/jobs/{job.id}")


@router.post("/pull", status_code=202, response_model=JobCreated, responses=errors(404, 429))
def pull(
    runtime: RuntimeDep, runner: JobsDep, actor: ActorDep, dry_run: DryRun = False,
    full: Annotated[bool, Query(description="Read every issue, not only those changed since the last pull.")] = False,
) -> JobCreated:  # fmt: skip
    """Read the tracker's issues and import them, as its export file would be, as a background job: new issues added,
    issues changed there since the last import or push updated, fields a person changed here too kept (`updates` says
    which). It reads the issues changed there since the last pull that ended well (`since` in its status); every
    issue with `full`, the first time, and once a day, which also says which items here are not there any more. Poll
    the status URL; a tracker that cannot be read fails the job with its answer. `dry_run`: what the pull would do,
    nothing written."""
    job = jobs.create_pull(runtime, actor, dry_run, full)
    runner.submit(jobs.PULL_JOB, job.id)
    return JobCreated(job_id=job.id, status_url=f"/v1/tracker/pulls/{job.id}")


@router.get("/pulls/{job_id}", response_model=PullJobPublic, responses=errors(404))
def get_pull_job(job_id: IdPath, runtime: RuntimeDep) -> PullJobPublic:
    """A pull's phase (reading the tracker, importing, embedding) and counts; once done, what came of it."""
    return jobs.public_pull(jobs.get_pull(runtime, job_id))


@router.get("/jobs/{job_id}", response_model=PushJobPublic, responses=errors(404))
def get_push_job(job_id: IdPath, runtime: RuntimeDep) -> PushJobPublic:
    return jobs.public(jobs.get_job(runtime, job_id))
