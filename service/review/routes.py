from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Body, Query, Request, Response

from service.accounts import AnyonesDep, PrincipalDep
from service.core import comments, suggestions
from service.core.comments import Thread
from service.core.deps import ActorDep, RuntimeDep, decider
from service.core.enums import SuggestionKind, SuggestionStatus
from service.core.errors import InvalidInput
from service.core.runtime import Runtime
from service.core.schemas import (
    BacklogItemPublic,
    CommentCreate,
    CommentPublic,
    CommentUpdate,
    IdPath,
    Offset,
    SuggestionPublic,
    errors,
)
from service.review import activity, decisions, insights
from service.review.schemas import (
    AcceptRequest,
    ActivityPublic,
    AssignRequest,
    DecidedMany,
    DecideManyRequest,
    InsightsPublic,
    Refused,
    RejectManyRequest,
    RejectRequest,
    SuggestionEventPublic,
)

queue = APIRouter(prefix="/v1/suggestions", tags=["review"])  # the review queue: suggestions and their decisions


@queue.get("", response_model=list[SuggestionPublic])
def list_suggestions(
    runtime: RuntimeDep,
    response: Response,
    status: SuggestionStatus | None = None,
    kind: SuggestionKind | None = None,
    limit: int = Query(100, ge=1, le=1000),
    offset: Offset = 0,
    q: str | None = Query(
        None, max_length=200, description="Words that must all appear (any case) in what it proposes or its input."
    ),
    assignee: str | None = Query(None, min_length=1, max_length=200, description="Given to this person to decide."),
    unassigned: bool = Query(False, description="Given to no one."),
) -> list[SuggestionPublic]:
    """Newest first; `X-Total-Count` says how many match in all."""
    where = suggestions.Filter(status, kind, q, assignee, unassigned)
    with runtime.db.session() as session:
        found = suggestions.list_suggestions(session, where, limit, offset)
        response.headers["X-Total-Count"] = str(suggestions.count_suggestions(session, where))
        return [SuggestionPublic.model_validate(s) for s in found]


@queue.get("/insights", response_model=InsightsPublic, responses=errors(422))
def review_insights(
    runtime: RuntimeDep,
    days: int | None = Query(None, ge=1, le=3650, description="Only suggestions made in the last N days."),
) -> InsightsPublic:
    """How reviewers answered this project's suggestions: per kind, accepted as made or after edits, rejected (the
    reasons most given), undone, failed, pending, and the median time to a decision; per model and prompt version,
    the share accepted; per reviewer, what each decided."""
    with runtime.db.session() as session:
        return insights.insights(session, days)


def _decided_many(runtime: Runtime, ids: list[int], decide: Callable[[int], Any]) -> DecidedMany:
    decided, refused = decisions.decide_many(ids, decide)
    with runtime.db.session() as session:
        found = [SuggestionPublic.model_validate(suggestions.get_suggestion(session, i)) for i in decided]
    return DecidedMany(
        decided=found, refused=[Refused(id=i, status_code=e.status_code, detail=str(e)) for i, e in refused]
    )


@queue.post("/accept", response_model=DecidedMany, responses=errors(422, 503))
def accept_many(body: DecideManyRequest, request: Request, runtime: RuntimeDep, actor: ActorDep) -> DecidedMany:
    """Accept several pending suggestions as they are (no edits), each as its own accept would; one refused (already
    decided, stale, gone) is listed with why and leaves the others decided."""
    who = decider(request, actor, body.decided_by)
    return _decided_many(runtime, body.ids, lambda i: decisions.accept(runtime, i, actor=who))


@queue.post("/reject", response_model=DecidedMany, responses=errors(422, 503))
def reject_many(body: RejectManyRequest, request: Request, runtime: RuntimeDep, actor: ActorDep) -> DecidedMany:
    """Reject several pending suggestions for one reason, each as its own reject would; one refused is listed."""
    who = decider(request, actor, body.decided_by)
    return _decided_many(runtime, body.ids, lambda i: decisions.reject(runtime, i, body.reason, who))


@queue.get("/{suggestion_id}", response_model=SuggestionPublic, responses=errors(404))
def get_suggestion(suggestion_id: IdPath, runtime: RuntimeDep) -> SuggestionPublic:
    with runtime.db.session() as session:
        return SuggestionPublic.model_validate(suggestions.get_suggestion(session, suggestion_id))


@queue.get("/{suggestion_id}/history", response_model=list[SuggestionEventPublic], responses=errors(404))
def get_history(suggestion_id: IdPath, runtime: RuntimeDep) -> list[SuggestionEventPublic]:
    """Every change to the suggestion, oldest first, with the payload before and after."""
    with runtime.db.session() as session:
        return [SuggestionEventPublic.model_validate(e) for e in suggestions.history(session, suggestion_id)]


@queue.post(
    "/{suggestion_id}/accept",
    status_code=201,
    response_model=BacklogItemPublic | None,
    responses=errors(400, 404, 409, 413, 422, 503),
)
def accept(
    suggestion_id: IdPath,
    request: Request,
    runtime: RuntimeDep,
    actor: ActorDep,
    body: AcceptRequest | None = Body(None),
) -> BacklogItemPublic | None:
    """Accept a pending suggestion. A story draft (optionally edited) creates and returns its backlog item; a merge
    folds the duplicate into the kept item and returns that item; evidence attaches tickets to the item; a
    priority (optionally with `input_edits`, re-scored) is written to the item; an estimate (or the `points` the
    reviewer settled on instead) sets the item's points; a sprint plan returns null."""
    body = body or AcceptRequest()
    item = decisions.accept(
        runtime, suggestion_id, body.edits, body.input_edits, decider(request, actor, body.decided_by), body.points
    )
    return BacklogItemPublic.model_validate(item) if item is not None else None


@queue.post("/{suggestion_id}/reject", response_model=SuggestionPublic, responses=errors(400, 404, 409, 413, 422, 503))
def reject(
    suggestion_id: IdPath, body: RejectRequest, request: Request, runtime: RuntimeDep, actor: ActorDep
) -> SuggestionPublic:
    """Reject a pending suggestion; the reason is kept."""
    return SuggestionPublic.model_validate(
        decisions.reject(runtime, suggestion_id, body.reason, decider(request, actor, body.decided_by))
    )


@queue.post("/{suggestion_id}/assign", response_model=SuggestionPublic, responses=errors(404, 409, 422))
def assign(suggestion_id: IdPath, body: AssignRequest, runtime: RuntimeDep, actor: ActorDep) -> SuggestionPublic:
    """Give an undecided (pending or failed) suggestion to a person to decide, or to no one (`"assignee": null`); its
    history records who did. With accounts on, the assignee is a reviewer or admin of the project (else 422). Anyone
    may still decide it: the assignee is whose queue it is in."""
    return SuggestionPublic.model_validate(decisions.assign(runtime, suggestion_id, body.assignee, actor))


@queue.post("/{suggestion_id}/undo", response_model=SuggestionPublic, responses=errors(404, 409, 503))
def undo(suggestion_id: IdPath, runtime: RuntimeDep, actor: ActorDep) -> SuggestionPublic:
    """Undo a decision: the suggestion is pending again, and its history says so. A rejection is always undone; an
    accepted story draft's new item or split's children are deleted, a rewritten item's text and an estimate's
    points restored, if nothing has changed or used them since; other acceptances (merge, evidence, priority, a
    meeting's notes and changes), or those built on, are refused (409) with what to do instead."""
    return SuggestionPublic.model_validate(decisions.undo(runtime, suggestion_id, actor))


@queue.get("/{suggestion_id}/comments", response_model=list[CommentPublic], responses=errors(404))
def list_comments(suggestion_id: IdPath, runtime: RuntimeDep) -> list[CommentPublic]:
    """People's comments on the suggestion, oldest first."""
    with runtime.db.session() as session:
        return [CommentPublic.model_validate(c) for c in comments.list_comments(session, Thread(suggestion_id))]


@queue.post("/{suggestion_id}/comments", status_code=201, response_model=CommentPublic, responses=errors(404, 422))
def add_comment(
    suggestion_id: IdPath, body: CommentCreate, request: Request, runtime: RuntimeDep, actor: ActorDep
) -> CommentPublic:
    """Comment on a suggestion of any status (a question to the team, why it is held); it decides nothing."""
    with runtime.db.session() as session:
        comment = comments.add_comment(session, Thread(suggestion_id), decider(request, actor, body.author), body.text)
        return CommentPublic.model_validate(comment)


@queue.patch(
    "/{suggestion_id}/comments/{comment_id}", response_model=CommentPublic, responses=errors(403, 404, 409, 422)
)
def edit_comment(
    suggestion_id: IdPath,
    comment_id: IdPath,
    body: CommentUpdate,
    runtime: RuntimeDep,
    actor: ActorDep,
    who: PrincipalDep,
) -> CommentPublic:
    """Change your comment's text (`edited_at` says when; while accounts are off, anyone's); names newly mentioned are
    told."""
    with runtime.db.session() as session:
        thread = Thread(suggestion_id)
        comment = comments.edit_comment(session, thread, comment_id, actor, body.text, anyones=who is None)
        return CommentPublic.model_validate(comment)


@queue.delete("/{suggestion_id}/comments/{comment_id}", status_code=204, responses=errors(403, 404, 409))
def delete_comment(
    suggestion_id: IdPath, comment_id: IdPath, runtime: RuntimeDep, actor: ActorDep, anyones: AnyonesDep
) -> Response:
    """Delete a comment: your own; an admin's, anyone's (while accounts are off, anyone's)."""
    with runtime.db.session() as session:
        comments.delete_comment(session, Thread(suggestion_id), comment_id, actor, anyones)
    return Response(status_code=204)


router = APIRouter(tags=["review"])
router.include_router(queue)


@router.get("/v1/activity", response_model=list[ActivityPublic], responses=errors(422))
def project_activity(
    runtime: RuntimeDep,
    limit: int = Query(50, ge=1, le=500),
    before: datetime | None = Query(None, description="Only what happened before this time."),
    after: str | None = Query(
        None, max_length=100, description="Only what comes after this line (the last line's `cursor`): the next page."
    ),
    actor: str | None = Query(None, min_length=1, max_length=200, description="Only what this person did."),
) -> list[ActivityPublic]:
    """What people did in this project, newest first: decisions (accepted, with or without edits, rejected, undone),
    assignments, regenerated drafts, comments, their own edits of backlog items, and re-imports that took a tracker's
    changes. What the AI made is not listed (the review queue holds it)."""
    try:
        cursor = activity.Cursor.parse(after) if after else None
    except ValueError as exc:
        raise InvalidInput("after: give the `cursor` of the last line shown, as the feed gave it") from exc
    with runtime.db.session() as session:
        return activity.activity(session, limit, before, actor, cursor)
