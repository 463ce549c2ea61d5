"""`/v1/inbox`: the caller's inbox in the current project; `/v1/suggestions/{id}/subscription` and
`/v1/backlog/{id}/subscription`: whether a suggestion's comments and decisions, or an item's comments and edits,
reach it."""

from __future__ import annotations

from fastapi import APIRouter, Query, Response

from service.core.comments import Thread
from service.core.deps import ActorDep, RuntimeDep
from service.core.runtime import Runtime
from service.core.schemas import MAX_ID, IdPath, errors
from service.inbox import service
from service.inbox.schemas import Marked, MarkRequest, NotificationPublic, SubscriptionPublic, SubscriptionSet

router = APIRouter(tags=["inbox"])


@router.get("/v1/inbox", response_model=list[NotificationPublic], responses=errors(422))
def list_inbox(
    runtime: RuntimeDep,
    actor: ActorDep,
    response: Response,
    unread: bool = Query(False, description="Only lines not yet read."),
    limit: int = Query(50, ge=1, le=500),
    after: int | None = Query(None, ge=1, le=MAX_ID, description="Only lines older than this one (the next page)."),
) -> list[NotificationPublic]:
    """What others did that concerns you, newest first: you were mentioned in a comment, given a suggestion to
    decide, or someone commented on or decided a suggestion you follow (given to you, in its thread, watched), or
    commented on a backlog item whose thread you are in.
    `X-Unread-Count` says how many of your lines are unread. Without accounts, name yourself with `X-User`."""
    recipient = service.whose(actor)
    with runtime.db.session() as session:
        found = service.list_inbox(session, recipient, unread, limit, after)
        response.headers["X-Unread-Count"] = str(service.count_unread(session, recipient))
        return [NotificationPublic.model_validate(n) for n in found]


@router.post("/v1/inbox/read", response_model=Marked, responses=errors(422))
def mark(body: MarkRequest, runtime: RuntimeDep, actor: ActorDep) -> Marked:
    """Mark lines of your inbox read (`"read": false`: unread again): these `ids`, those about a `suggestion_id` (the
    desk marks them when it shows the suggestion) or an `item_id` (when it shows the item's comments), or
    `"all": true`."""
    recipient = service.whose(actor)
    with runtime.db.session() as session:
        marked = service.mark(session, recipient, body.ids or None, body.read, body.suggestion_id, body.item_id)
        return Marked(marked=marked, unread=service.count_unread(session, recipient))


@router.get(
    "/v1/suggestions/{suggestion_id}/subscription", response_model=SubscriptionPublic, responses=errors(404, 422)
)
def get_subscription(suggestion_id: IdPath, runtime: RuntimeDep, actor: ActorDep) -> SubscriptionPublic:
    """Whether the suggestion's comments and decisions reach your inbox, and why."""
    return _followed(runtime, actor, Thread(suggestion_id))


@router.put(
    "/v1/suggestions/{suggestion_id}/subscription", response_model=SubscriptionPublic, responses=errors(404, 409, 422)
)
def put_subscription(
    suggestion_id: IdPath, body: SubscriptionSet, runtime: RuntimeDep, actor: ActorDep
) -> SubscriptionPublic:
    """Watch the suggestion (`"watching": true`: its comments and decisions reach your inbox though it is not given
    to you and you are not in its thread), mute it (`false`: they do not, though you are), or `null`: as its
    assignment and thread say. Mentions and assignments reach you either way."""
    return _followed(runtime, actor, Thread(suggestion_id), body)


@router.get("/v1/backlog/{item_id}/subscription", response_model=SubscriptionPublic, responses=errors(404, 422))
def get_item_subscription(item_id: IdPath, runtime: RuntimeDep, actor: ActorDep) -> SubscriptionPublic:
    """Whether comments on the backlog item, and people's edits of it, reach your inbox, and why."""
    return _followed(runtime, actor, Thread(item_id=item_id))


@router.put("/v1/backlog/{item_id}/subscription", response_model=SubscriptionPublic, responses=errors(404, 409, 422))
def put_item_subscription(
    item_id: IdPath, body: SubscriptionSet, runtime: RuntimeDep, actor: ActorDep
) -> SubscriptionPublic:
    """Watch the item (`"watching": true`: its comments and edits reach your inbox though you are not in its thread),
    mute it (`false`: they do not, though you are), or `null`: as the thread says. Mentions reach you either way."""
    return _followed(runtime, actor, Thread(item_id=item_id), body)


def _followed(runtime: Runtime, actor: str | None, thread: Thread, change: SubscriptionSet | None = None):  # noqa: ANN202
    """The caller's following of the thread, after `change` if one is asked."""
    person = service.whose(actor)
    with runtime.db.session() as session:
        if change is not None:
            following, why = service.subscribe(session, person, thread, change.watching)
        else:
            following, why = service.subscription(session, person, thread)
        return SubscriptionPublic(**thread._asdict(), following=following, why=why)
