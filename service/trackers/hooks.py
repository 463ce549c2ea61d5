"""Webhooks from the tracker: each signed event about one of its issues brings that issue here at once, as a pull
of that issue alone would, so a change made in Jira, GitHub or Linear shows without anyone pulling.

An admin sets it up once per project: `GET /v1/tracker/hook` gives the address and a secret, which the tracker's
admin enters in a webhook there (Jira: System > WebHooks, issue created and updated, comment created, updated and
deleted; GitHub: the repository's Settings > Webhooks, `application/json`, Issues and Issue comments; Linear: Settings >
API > Webhooks, Issues and Comments). An event about a comment brings its issue, whole thread and all, as one about
the issue does (since 2026-11-29: a comment deleted there is deleted here). Each event must carry the
tracker's own signature of its body with that secret (HMAC-SHA256: Jira's `X-Hub-Signature` and GitHub's
`X-Hub-Signature-256` as `sha256=<hex>`, Linear's `Linear-Signature` as `<hex>`, and a Linear event older than
`MAX_AGE_S` is refused). An event only names an issue: its state is read from the tracker's API with the kept token,
never taken from the event's body, so a forged or replayed body could at most make Refinery read an issue again.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from service.backlog.schemas import ImportUpdated
from service.backlog.service import import_and_index
from service.core.enums import ItemAction, TrackerKind
from service.core.errors import DomainError, InvalidInput
from service.core.runtime import Runtime
from service.core.tables import BacklogItem, ItemEvent, TrackerConnection, utcnow
from service.trackers import service

SIGNATURE = {
    TrackerKind.jira: "x-hub-signature",
    TrackerKind.github: "x-hub-signature-256",
    TrackerKind.linear: "linear-signature",
}
MAX_AGE_S = 300  # a Linear event's `webhookTimestamp` may be this old at most


class NotSigned(DomainError):
    """The event does not carry this project's signature: it is not taken."""

    status_code = 401


@dataclass
class Heard:
    """What became of one event: the issue it named (its key here), whether it was imported, and what came of it."""

    key: str | None
    imported: bool
    detail: str


def signed(kind: str, secret: str, body: bytes, headers: Mapping[str, str]) -> bool:
    """Whether `headers` carry the tracker's HMAC-SHA256 signature of `body` with `secret`."""
    digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    expected = digest if kind == TrackerKind.linear else f"sha256={digest}"
    return hmac.compare_digest(headers.get(SIGNATURE[TrackerKind(kind)], "").strip().lower(), expected)


def named_issue(row: TrackerConnection, event: dict[str, Any], headers: Mapping[str, str]) -> tuple[str | None, str]:
    """The key of the issue of this tracker the event is about (SHOP-12, owner/repo#12, ENG-12) and what happened,
    or None and why the event is left alone."""
    if row.kind == TrackerKind.jira:
        what, key = str(event.get("webhookEvent") or "an event"), (event.get("issue") or {}).get("key")
        if not what.startswith(("jira:issue_", "comment_")) or not isinstance(key, str):
            return None, f"{what}: only issue and comment events that name an issue are read"
        return (key, what) if key.startswith(f"{row.target}-") else (None, f"{key} is not in project {row.target}")
    if row.kind == TrackerKind.github:
        what, action = headers.get("x-github-event", ""), str(event.get("action") or "")
        if what == "ping":
            return None, "ping: GitHub reaches Refinery"
        issue, repo = event.get("issue") or {}, (event.get("repository") or {}).get("full_name")
        number = issue.get("number")
        if what not in ("issues", "issue_comment") or not isinstance(number, int):
            return None, f"{what or 'an event'}: only issues and issue_comment events are read"
        if "pull_request" in issue:
            return None, f"{what}: a pull request's, not an issue's"
        if str(repo).lower() != row.target.lower():
            return None, f"{repo} is not {row.target}"
        return f"{row.target}#{number}", f"{what} {action}"
    what, action, data = event.get("type"), event.get("action"), event.get("data") or {}
    if what == "Comment":  # a comment's event names its issue
        key = (data.get("issue") or {}).get("identifier") or data.get("issueId")
    else:
        key = data.get("identifier") or data.get("id")
    if what not in ("Issue", "Comment") or not isinstance(key, str):
        return None, f"{what or 'an event'}: only Issue and Comment events that name an issue are read"
    return key, f"{what} {action}"


def receive(runtime: Runtime, body: bytes, headers: Mapping[str, str]) -> Heard:
    """Take one webhook: check its signature (NotSigned), find the issue it names, read that issue from the tracker
    and import it as a pull would (new, changed there, or unchanged; fields changed here too kept). The connection
    records when it last heard one and what came of it."""
    with runtime.db.session() as session:
        row = service.connection(session)
    if not row.hook_secret or not signed(row.kind, row.hook_secret, body, headers):
        raise NotSigned(f"the event is not signed with this project's secret ({SIGNATURE[TrackerKind(row.kind)]})")
    try:
        event = json.loads(body)
    except ValueError as exc:
        raise InvalidInput(f"the event is not JSON: {exc}") from exc
    if not isinstance(event, dict):
        raise InvalidInput("the event is not a JSON object")
    stamp = event.get("webhookTimestamp")
    if isinstance(stamp, int | float) and abs(time.time() - stamp / 1000) > MAX_AGE_S:
        raise NotSigned(f"the event was sent more than {MAX_AGE_S} s ago: a replay is not taken")
    key, what = named_issue(row, event, headers)
    heard = Heard(key, False, what)
    if key is not None:
        heard = _bring(runtime, row, key, what)
    with runtime.db.session() as session:
        said = f"{heard.key or ''} {heard.detail}".strip()[:500]
        kept = TrackerConnection.updated_at  # hearing an event does not change the connection's own date
        values = {"hook_received_at": utcnow(), "hook_last": said, "updated_at": kept}
        session.execute(update(TrackerConnection).where(TrackerConnection.id == row.id).values(**values))
    return heard


def _bring(runtime: Runtime, row: TrackerConnection, key: str, what: str) -> Heard:
    """Read the issue `key` from the tracker and import it alone."""
    tracker = service.client(row)
    try:
        record = tracker.issue(key)
    finally:
        tracker.close()
    if record is None:  # deleted there, or moved out of the project: the tracker says so, not the event
        return _close(runtime, row, key, what)
    parsed = service.as_import(row, tracker, [record])
    try:
        imported = import_and_index(runtime, parsed.items, parsed.problems)
    except IntegrityError:  # trackers send several events at once: another one added this new issue meanwhile
        imported = import_and_index(runtime, parsed.items, parsed.problems)
    return Heard(key, True, f"{what}: {_outcome(imported.created, imported.updated)}")


def _close(runtime: Runtime, row: TrackerConnection, key: str, what: str) -> Heard:
    """The item of an issue the tracker no longer has, closed here (not deleted: its history and suggestions stay,
    and a person can reopen it), with that in its history."""
    gone = f"{what}: {key} is not in {service.describe(row)} any more"
    with runtime.db.session() as session:
        found = select(BacklogItem).where(
            BacklogItem.external_id == f"{row.kind}:{key}", BacklogItem.merged_into_id.is_(None)
        )
        item = session.scalars(found).first()
        if item is None or item.closed:
            return Heard(key, False, f"{gone}; {'already closed' if item else 'not'} here")
        item.closed = True
        known = dict(item.imported or {})
        item.imported = (
            known | {"closed": True} | ({"here": known["here"] | {"closed": True}} if "here" in known else {})
        )
        after = {"closed": True, "gone_from_tracker": key}
        session.add(
            ItemEvent(item_id=item.id, action=ItemAction.imported, actor=None, before={"closed": False}, after=after)
        )
        return Heard(key, True, f"{gone}: item #{item.id} closed here")


def _outcome(created: list[Any], updated: list[ImportUpdated]) -> str:
    if created:
        return f"added as item #{created[0].id}"
    if not updated:
        return "unchanged here"
    done, kept = updated[0].changed, updated[0].kept
    return "updated: " + ", ".join(done or ["nothing"]) + (f"; kept as here: {', '.join(kept)}" if kept else "")
