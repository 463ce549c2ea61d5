from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, File, HTTPException, Query, Request, Response, UploadFile

from service import duplicates
from service.accounts import AnyonesDep, PrincipalDep
from service.backlog import jobs, service
from service.backlog.exporters import ExportFormat
from service.backlog.importers import IMPORT_FORMATS, ImportFormat, ImportFormatError, ParsedImport, parse_import
from service.backlog.schemas import (
    BacklogBulkEdit,
    BacklogFilter,
    BacklogItemCreate,
    BacklogItemUpdate,
    BulkEdited,
    ImportJobPublic,
    ImportResult,
    ItemEventPublic,
    LabelCount,
)
from service.core import comments
from service.core.comments import Thread
from service.core.deps import ActorDep, JobsDep, RuntimeDep, decider
from service.core.schemas import (
    BacklogItemPublic,
    CommentCreate,
    CommentPublic,
    CommentUpdate,
    DryRun,
    IdPath,
    JobCreated,
    Offset,
    errors,
)
from service.core.tables import ImportJob
from service.duplicates.schemas import DuplicateCandidatePublic

router = APIRouter(prefix="/v1/backlog", tags=["backlog"])
MAX_IMPORT_BYTES = 20_000_000


@router.get("", response_model=list[BacklogItemPublic], responses=errors(422))
def list_backlog(
    runtime: RuntimeDep,
    response: Response,
    shown: Annotated[BacklogFilter, Query()],
    limit: int = Query(100, ge=1, le=1000),
    offset: Offset = 0,
    include_merged: bool = Query(False, description="Also list items merged into another."),
    order: Literal["id", "priority"] = Query("id", description="priority: accepted rank first, unranked last."),
) -> list[BacklogItemPublic]:
    """Backlog items, filtered by words, type, label and state; `X-Total-Count` says how many match in all."""
    with runtime.db.session() as session:
        found = service.list_items(session, limit, offset, include_merged, order, shown)
        response.headers["X-Total-Count"] = str(service.count_items(session, include_merged, shown))
        return [BacklogItemPublic.model_validate(i) for i in found]


@router.get("/labels", response_model=list[LabelCount])
def backlog_labels(runtime: RuntimeDep) -> list[LabelCount]:
    """The labels the project's items use, each with how many items carry it, most used first (the desk offers them
    where a label is typed, and marks a draft's labels no item has)."""
    with runtime.db.session() as session:
        return [LabelCount(label=label, items=n) for label, n in service.label_counts(session)]


@router.get("/export", response_class=Response)
def export_backlog(
    runtime: RuntimeDep,
    shown: Annotated[BacklogFilter, Query()],
    format: ExportFormat = Query(
        "markdown", description="jira_csv | jira_json (ADF descriptions) | linear_json | github_json | markdown"
    ),
) -> Response:
    """Every backlog item, or those the filters (as the listing's) ask for (merged ones left out, none cut off;
    `X-Total-Count` says how many) in a format Jira, Linear or GitHub imports, by priority rank."""
    content, media_type, count = service.export_backlog(runtime, format, shown)
    extension = {"jira_csv": "csv", "markdown": "md"}.get(format, "json")
    headers = {
        "Content-Disposition": f'attachment; filename="backlog-{format}.{extension}"',
        "X-Total-Count": str(count),
    }
    return Response(content, media_type=media_type, headers=headers)


@router.get("/{item_id}", response_model=BacklogItemPublic, responses=errors(404))
def get_backlog_item(item_id: IdPath, runtime: RuntimeDep) -> BacklogItemPublic:
    with runtime.db.session() as session:
        return BacklogItemPublic.model_validate(service.get_item(session, item_id))


@router.patch("/{item_id}", response_model=BacklogItemPublic, responses=errors(404, 413, 422, 503))
def edit_backlog_item(
    item_id: IdPath, body: BacklogItemUpdate, runtime: RuntimeDep, actor: ActorDep
) -> BacklogItemPublic:
    """A person's edit of an item (the fields given; `story_points: null` clears them). The item's history keeps
    each change; pending suggestions made from the old text become stale; a re-import keeps these fields."""
    return BacklogItemPublic.model_validate(service.edit_item(runtime, item_id, body, actor))


@router.post("/edit", response_model=BulkEdited, responses=errors(413, 422))
def edit_backlog_items(body: BacklogBulkEdit, runtime: RuntimeDep, actor: ActorDep) -> BulkEdited:
    """Edit up to 500 items alike, in one transaction: labels added or removed, the type, done or open again. Each
    change is in its item's history; an unknown or merged-away item is refused (listed) and the others edited."""
    return service.edit_items(runtime, body, actor)


@router.get("/{item_id}/history", response_model=list[ItemEventPublic], responses=errors(404))
def backlog_item_history(item_id: IdPath, runtime: RuntimeDep) -> list[ItemEventPublic]:
    """Changes to the item outside suggestions, oldest first: a person's edits, re-imports that took the tracker's
    changes (changes by accepted suggestions are in each suggestion's history)."""
    with runtime.db.session() as session:
        return [ItemEventPublic.model_validate(e) for e in service.item_history(session, item_id)]


@router.get("/{item_id}/comments", response_model=list[CommentPublic], responses=errors(404))
def list_item_comments(item_id: IdPath, runtime: RuntimeDep) -> list[CommentPublic]:
    """People's comments on the item, oldest first (answers to open questions, what refinement settled)."""
    with runtime.db.session() as session:
        return [CommentPublic.model_validate(c) for c in comments.list_comments(session, Thread(item_id=item_id))]


@router.post("/{item_id}/comments", status_code=201, response_model=CommentPublic, responses=errors(404, 422))
def add_item_comment(
    item_id: IdPath, body: CommentCreate, request: Request, runtime: RuntimeDep, actor: ActorDep
) -> CommentPublic:
    """Comment on a backlog item; `@name` tells that person (their inbox), as does any comment in a thread they are
    in. It changes nothing on the item."""
    with runtime.db.session() as session:
        thread = Thread(item_id=item_id)
        comment = comments.add_comment(session, thread, decider(request, actor, body.author), body.text)
        return CommentPublic.model_validate(comment)


@router.patch("/{item_id}/comments/{comment_id}", response_model=CommentPublic, responses=errors(403, 404, 409, 422))
def edit_item_comment(
    item_id: IdPath, comment_id: IdPath, body: CommentUpdate, runtime: RuntimeDep, actor: ActorDep, who: PrincipalDep
) -> CommentPublic:
    """Change your comment's text (`edited_at` says when; while accounts are off, anyone's). Names newly mentioned are
    told; a comment a push posted on the issue is updated there by the next push."""
    with runtime.db.session() as session:
        thread = Thread(item_id=item_id)
        comment = comments.edit_comment(session, thread, comment_id, actor, body.text, anyones=who is None)
        return CommentPublic.model_validate(comment)


@router.delete("/{item_id}/comments/{comment_id}", status_code=204, responses=errors(403, 404, 409))
def delete_item_comment(
    item_id: IdPath, comment_id: IdPath, runtime: RuntimeDep, actor: ActorDep, anyones: AnyonesDep
) -> Response:
    """Delete a comment: your own; an admin's, anyone's (while accounts are off, anyone's)."""
    with runtime.db.session() as session:
        comments.delete_comment(session, Thread(item_id=item_id), comment_id, actor, anyones)
    return Response(status_code=204)


@router.post("/items", status_code=201, response_model=ImportResult, responses=errors(400, 413, 422, 503))
def import_backlog_items(
    body: BacklogItemCreate | list[BacklogItemCreate], runtime: RuntimeDep, actor: ActorDep
) -> ImportResult:
    """Add items (one object or a list): a person's own, or existing ones from a tracker (with `external_id`).
    Re-importing an external_id creates nothing: the item takes the tracker's changes since the last import, except
    to fields changed here too (`updated`). A new item without an external_id records who added it in its history."""
    items = body if isinstance(body, list) else [body]
    return ImportResult.of(service.import_and_index(runtime, items, added_by=actor or ""))


def _parsed(file: UploadFile, format: ImportFormat) -> ParsedImport:
    """The uploaded file read as `format`: 413 when too large, 422 saying what is wrong with it."""
    data = file.file.read(MAX_IMPORT_BYTES + 1)  # in a plain def route: parsing runs off the event loop
    if len(data) > MAX_IMPORT_BYTES:
        raise HTTPException(status_code=413, detail=f"the file is larger than {MAX_IMPORT_BYTES // 1_000_000} MB")
    try:
        return parse_import(data, format)
    except ImportFormatError as exc:
        raise HTTPException(status_code=422, detail=str(exc)) from exc


ImportFile = Annotated[
    UploadFile, File(description="A Jira CSV or JSON, GitHub JSON, Linear CSV or Linear JSON export.")
]
FormatQuery = Annotated[ImportFormat, Query(description=" | ".join(IMPORT_FORMATS))]


@router.post("/import", status_code=201, response_model=ImportResult, responses=errors(400, 413, 422, 503))
def import_backlog_file(runtime: RuntimeDep, file: ImportFile, format: FormatQuery) -> ImportResult:
    """Import a Jira CSV or REST issues JSON, GitHub issues JSON, Linear CSV or Linear issues JSON export, story
    points and parent links included, within this request (a large file: `POST /v1/backlog/import/jobs`).
    Re-importing the same issues (by key, URL, or content when a record has neither) creates nothing: an issue changed
    in the tracker since the last import takes those changes, except to fields changed here too, which are kept
    (`updated` says which); records the parser skipped are listed in `problems`."""
    parsed = _parsed(file, format)
    return ImportResult.of(service.import_and_index(runtime, parsed.items, parsed.problems))


@router.post("/import/jobs", status_code=202, response_model=JobCreated, responses=errors(400, 413, 422, 429, 503))
def import_backlog_file_as_job(
    runtime: RuntimeDep,
    runner: JobsDep,
    actor: ActorDep,
    file: ImportFile,
    format: FormatQuery,
    dry_run: DryRun = False,
) -> JobCreated:
    """Import an export file as `POST /v1/backlog/import` does, as a background job with progress (thousands of
    issues take minutes: each new one is embedded for the duplicate check); poll the status URL. `dry_run`: what
    the import would add, update (which fields) and keep as here, with nothing written."""
    parsed = _parsed(file, format)
    job = jobs.create_job(runtime, ImportJob, f"{file.filename or 'upload'} ({format})", parsed, actor, dry_run)
    runner.submit(jobs.JOB, job.id)
    return JobCreated(job_id=job.id, status_url=f"/v1/backlog/import/jobs/{job.id}")


@router.get("/import/jobs/{job_id}", response_model=ImportJobPublic, responses=errors(404))
def get_import_job(job_id: IdPath, runtime: RuntimeDep) -> ImportJobPublic:
    """An import job's phase and counts; once done, what was added, updated and kept."""
    return jobs.public(jobs.get_job(runtime, job_id))


@router.get("/{item_id}/duplicates", response_model=list[DuplicateCandidatePublic], responses=errors(404, 503))
def backlog_item_duplicates(
    item_id: IdPath, runtime: RuntimeDep, k: int = Query(10, ge=1, le=100)
) -> list[DuplicateCandidatePublic]:
    """Other backlog items and pending drafts most similar to this item, best first, with verdicts."""
    with runtime.db.session() as session:
        item = service.get_item(session, item_id)
    return [DuplicateCandidatePublic(**c) for c in duplicates.item_duplicates(runtime, item, k)]
