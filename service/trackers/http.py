"""Calling a tracker's API: an httpx client with bounded retries, what a call can end in, and what every tracker
client offers (`Tracker`). A call is retried on a network error, 429 or 502-504 (waiting what `Retry-After` says, at
most `MAX_WAIT_S`), up to `ATTEMPTS` times, except a create the tracker cannot recognise when sent again, after an
answer that leaves unknown whether it was carried out (`Unsure`); a refused credential (401, 403 that is not a rate
limit) stops the whole push (`Refused`), anything else fails one item (`TrackerError`) with what the tracker said.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

import httpx

from service.backlog.exporters import ExportItem
from service.core.enums import TrackerKind

ATTEMPTS = 4
MAX_WAIT_S = 30.0
TIMEOUT_S = 20.0
RETRIED = frozenset({429, 502, 503, 504})
SURE = frozenset({429, 503})  # not carried out: a create is sent again after these only
UNSURE = "it may have been created anyway: the next push looks for it in the tracker before creating it again"
CLOCK_SKEW = timedelta(minutes=10)  # how far this machine's clock and the tracker's may differ: `made_since` looks back
PAGE = 100  # issues per page read


class TrackerError(Exception):
    """One call failed for a reason the tracker gave (or the network): that item is not sent."""


class Refused(TrackerError):
    """The tracker refused the credentials or their permissions: no item can be sent until they are fixed."""


class Unsure(TrackerError):
    """A create whose outcome is unknown (its answer was lost): the next push looks for the issue before sending it
    again (`Tracker.made_since`)."""


class Gone(TrackerError):
    """The issue an item was sent as is not in the tracker any more."""


@dataclass
class Sent:
    """What the tracker made of an item: its key there (SHOP-12, owner/repo#12) and what it did not take."""

    key: str
    warnings: list[str] = field(default_factory=list)
    dropped: list[str] = field(
        default_factory=list
    )  # the item's fields the tracker did not take (item_type: made a Task)


class Tracker(Protocol):
    """A tracker's issues: `create` and `update` send an item's fields; `blockers` are the issues the issue `key` is
        blocked by (each as an import names it, `jira:SHOP-3`, with the id of the link for `unblock`), `block` makes the
        issue `key` blocked by the issue `blocker` (a key as `blockers` names it); `made_since` the keys of the issues
        titled `title` made since `since` (less `CLOCK_SKEW`), to find a create whose answer was lost; `rank` puts the
        issues `keys` in this order there, or says why it cannot; `comment` posts a comment (its id), `edit_comment`
    changes one and `delete_comment` deletes one (Gone when it is not there any more)."""

    kind: TrackerKind
    name: str  # "Jira" | "GitHub" | "Linear", for messages
    import_format: str  # how `service.backlog.importers` reads its issues (`issues` pages)

    def check(self) -> str: ...
    def create(self, item: ExportItem) -> Sent: ...
    def update(self, key: str, item: ExportItem, changed: list[str]) -> Sent: ...
    def blockers(self, key: str) -> dict[str, str]: ...
    def block(self, key: str, blocker: str) -> None: ...
    def unblock(self, key: str, link: str) -> None: ...
    def issues(self, since: datetime | None = None) -> Iterator[list[dict[str, Any]]]: ...
    def issue(self, key: str) -> dict[str, Any] | None: ...
    def made_since(self, title: str, since: datetime) -> list[str]: ...
    def rank(self, keys: list[str]) -> list[str]: ...
    def comment(self, key: str, text: str) -> str: ...
    def edit_comment(self, key: str, comment_id: str, text: str) -> None: ...
    def delete_comment(self, key: str, comment_id: str) -> None: ...
    def close(self) -> None: ...


def detail(response: httpx.Response) -> str:
    """What the tracker said, in a line: Jira's errorMessages and field errors, GitHub's message and errors."""
    try:
        body = response.json()
    except ValueError:
        return response.text[:300] or response.reason_phrase
    if not isinstance(body, dict):
        return str(body)[:300]
    said = [str(body["message"])] if body.get("message") else []
    said += [str(message) for message in body.get("errorMessages") or []]
    errors = body.get("errors")
    if isinstance(errors, dict):  # Jira: field -> what is wrong with it
        said += [f"{name}: {why}" for name, why in errors.items()]
    elif isinstance(errors, list):  # GitHub: [{resource, field, code, message?}]
        said += [str(e.get("message") or e.get("code") or e) if isinstance(e, dict) else str(e) for e in errors]
    return "; ".join(said)[:500] or response.reason_phrase


def wait_s(response: httpx.Response, attempt: int) -> float:
    """How long to wait before trying again: `Retry-After` (seconds) or GitHub's rate limit reset, else 1, 2, 4 s."""
    retry_after = response.headers.get("retry-after", "")
    if retry_after.isdigit():
        return min(float(retry_after), MAX_WAIT_S)
    reset = response.headers.get("x-ratelimit-reset", "")
    if reset.isdigit():
        return min(max(float(reset) - time.time(), 0.0), MAX_WAIT_S)
    return float(2**attempt)


def _rate_limited(response: httpx.Response) -> bool:
    """A 429, or GitHub's 403 for a (secondary) rate limit."""
    return response.status_code == 429 or (
        response.status_code == 403
        and (response.headers.get("x-ratelimit-remaining") == "0" or "retry-after" in response.headers)
    )


@dataclass
class Http:
    """An httpx client with the retries above; `sleep` is replaceable so tests do not wait."""

    client: httpx.Client
    name: str
    sleep: Callable[[float], None] = time.sleep

    def call(self, method: str, path: str, body: dict[str, Any] | None = None, once: bool = False) -> httpx.Response:
        """The tracker's answer. `once`: a create the tracker cannot recognise when sent again, retried only where it
        surely was not carried out (429, 503, no connection); after a 502, 504 or a lost answer it may have been, so
        `Unsure` says to look before sending it again."""
        for attempt in range(ATTEMPTS):
            last = attempt == ATTEMPTS - 1
            try:
                response = self.client.request(method, path, json=body)
            except httpx.HTTPError as exc:
                if once and not isinstance(exc, httpx.ConnectError):
                    raise Unsure(f"{self.name} did not answer ({exc}): {UNSURE}") from exc
                if last:
                    raise TrackerError(f"could not reach {self.name} at {self.client.base_url}: {exc}") from exc
                self.sleep(float(2**attempt))
                continue
            retried = response.status_code in (SURE if once else RETRIED) or _rate_limited(response)
            if retried and not last:
                self.sleep(wait_s(response, attempt))
                continue
            if once and response.status_code in RETRIED - SURE:
                raise Unsure(f"{self.name} answered {response.status_code} ({detail(response)}): {UNSURE}")
            if response.status_code in (401, 403):
                raise Refused(
                    f"{self.name} refused the request ({response.status_code}: {detail(response)}): check the "
                    "user, the token and its permissions (refinery tracker check)"
                )
            return response
        raise AssertionError("unreachable")  # pragma: no cover

    def done(self, method: str, path: str, what: str, body: dict[str, Any] | None = None) -> httpx.Response:
        """`call`, and its answer when the tracker did it; `fail` (saying it did not `what`) when not."""
        response = self.call(method, path, body)
        if response.status_code >= 300:
            raise fail(self.name, what, response)
        return response

    def close(self) -> None:
        self.client.close()


def fail(name: str, what: str, response: httpx.Response) -> TrackerError:
    kind = Gone if response.status_code == 404 else TrackerError
    return kind(f"{name} did not {what} ({response.status_code}: {detail(response)})")


def same_title(a: str, b: str) -> bool:
    """Whether two titles are the same once whitespace runs are one space (as a tracker keeps a one-line title)."""
    return " ".join(a.split()) == " ".join(b.split())
