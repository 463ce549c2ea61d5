"""Calling a tracker's API to create and update issues: Jira Cloud (REST v3), GitHub issues (REST) and Linear
(GraphQL).

The bodies are the exports' (`service.backlog.exporters`: `to_jira_json`, `to_github_json`), so what is sent is what
a downloaded export holds. A call is retried on a network error, 429 or 502-504 (waiting what `Retry-After` says, at
most `MAX_WAIT_S`), up to `ATTEMPTS` times, except a Jira or GitHub create after an answer that leaves unknown whether
it was carried out (`Unsure`: neither tracker can tell a repeated create; Linear can, by the issue's id); a refused
credential (401, 403 that is not a rate limit) stops the whole push (`Refused`), anything else fails one item
(`TrackerError`) with what the tracker said.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import urlencode

import httpx

from service.backlog.exporters import (
    STORY_POINTS_FIELD,
    ExportItem,
    to_github_json,
    to_jira_json,
    to_linear_json,
)
from service.core.enums import TrackerKind

ATTEMPTS = 4
MAX_WAIT_S = 30.0
TIMEOUT_S = 20.0
RETRIED = frozenset({429, 502, 503, 504})
SURE = frozenset({429, 503})  # not carried out: a create is sent again after these only
UNSURE = "it may have been created anyway: look in the tracker before sending this item again"
JIRA_KEY_RE = re.compile(r"^[A-Z][A-Z0-9_]+$")  # a Jira project's key, and a Linear team's
GITHUB_REPO_RE = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")
PAGE = 100  # issues per page read
FALLBACK_ISSUE_TYPE = "Task"  # every Jira project template has it; "Story" and "Bug" are not everywhere


class TrackerError(Exception):
    """One call failed for a reason the tracker gave (or the network): that item is not sent."""


class Refused(TrackerError):
    """The tracker refused the credentials or their permissions: no item can be sent until they are fixed."""


class Unsure(TrackerError):
    """A create whose outcome is unknown (its answer was lost): it is not sent again by itself."""


class Gone(TrackerError):
    """The issue an item was sent as is not in the tracker any more."""


@dataclass
class Sent:
    """What the tracker made of an item: its key there (SHOP-12, owner/repo#12) and what it did not take."""

    key: str
    warnings: list[str] = field(default_factory=list)


class Tracker(Protocol):
    kind: TrackerKind
    name: str  # "Jira" | "GitHub" | "Linear", for messages
    import_format: str  # how `service.backlog.importers` reads its issues (`issues` pages)

    def check(self) -> str: ...
    def create(self, item: ExportItem) -> Sent: ...
    def update(self, key: str, item: ExportItem, changed: list[str]) -> Sent: ...
    def issues(self) -> Iterator[list[dict[str, Any]]]: ...
    def close(self) -> None: ...


def _detail(response: httpx.Response) -> str:
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


def _wait_s(response: httpx.Response, attempt: int) -> float:
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
                self.sleep(_wait_s(response, attempt))
                continue
            if once and response.status_code in RETRIED - SURE:
                raise Unsure(f"{self.name} answered {response.status_code} ({_detail(response)}): {UNSURE}")
            if response.status_code in (401, 403):
                raise Refused(
                    f"{self.name} refused the request ({response.status_code}: {_detail(response)}): check the "
                    "user, the token and its permissions (refinery tracker check)"
                )
            return response
        raise AssertionError("unreachable")  # pragma: no cover

    def close(self) -> None:
        self.client.close()


def _fail(name: str, what: str, response: httpx.Response) -> TrackerError:
    kind = Gone if response.status_code == 404 else TrackerError
    return kind(f"{name} did not {what} ({response.status_code}: {_detail(response)})")


class Jira:
    """Jira Cloud, REST API v3, signed in with an account's email and API token (basic auth)."""

    kind = TrackerKind.jira
    name = "Jira"
    import_format = "jira_json"

    def __init__(self, url: str, project: str, user: str, token: str, points_field: str | None = None) -> None:
        client = httpx.Client(
            base_url=url.rstrip("/") + "/rest/api/3", auth=(user, token), timeout=TIMEOUT_S,
            headers={"Accept": "application/json"},
        )  # fmt: skip
        self.http, self.project = Http(client, self.name), project
        self.points_field = points_field or STORY_POINTS_FIELD

    def check(self) -> str:
        me = self.http.call("GET", "/myself")
        if me.status_code != 200:
            raise _fail(self.name, "say who the token belongs to", me)
        project = self.http.call("GET", f"/project/{self.project}")
        if project.status_code != 200:
            raise _fail(self.name, f"find project {self.project}", project)
        return f"signed in to Jira as {me.json().get('displayName', '?')}; project {self.project}: " + str(
            project.json().get("name", "?")
        )

    def _fields(self, item: ExportItem) -> dict[str, Any]:
        fields = to_jira_json([item])[0]["fields"]
        if STORY_POINTS_FIELD in fields and self.points_field != STORY_POINTS_FIELD:
            fields[self.points_field] = fields.pop(STORY_POINTS_FIELD)
        return fields

    def _optional(self) -> dict[str, str]:
        """The fields an issue is still worth sending without (Jira field -> what to call it)."""
        return {"priority": "priority", "labels": "labels", self.points_field: "story points", "parent": "parent"}

    def _send(self, method: str, path: str, fields: dict[str, Any], what: str) -> tuple[httpx.Response, list[str]]:
        """Send `fields`; where Jira refuses only fields an issue can do without (a priority its scheme lacks, a
        story points field not on the screen, an issue type the project lacks), send again without them (the type
        as Task), once, and say so."""
        warnings: list[str] = []
        for _ in range(2):
            response = self.http.call(method, path, {"fields": fields}, once=method == "POST")
            if response.status_code != 400:
                break
            is_json = "json" in response.headers.get("content-type", "")
            refused = (response.json().get("errors") or {}) if is_json else {}
            optional = self._optional()
            if not refused or not set(refused) <= {*optional, "issuetype"}:
                break
            if "issuetype" in refused and fields.get("issuetype", {}).get("name") == FALLBACK_ISSUE_TYPE:
                break
            for name, said in refused.items():
                if name == "issuetype":
                    was = fields["issuetype"]["name"]
                    fields["issuetype"] = {"name": FALLBACK_ISSUE_TYPE}
                    warnings.append(f"Jira has no issue type {was} here ({said}): sent as {FALLBACK_ISSUE_TYPE}")
                else:
                    fields.pop(name, None)
                    warnings.append(f"Jira did not take the {optional[name]} ({said}): sent without it")
        if response.status_code >= 300:
            raise _fail(self.name, what, response)
        return response, warnings

    def create(self, item: ExportItem) -> Sent:
        fields = {"project": {"key": self.project}, **self._fields(item)}
        response, warnings = self._send("POST", "/issue", fields, "create the issue")  # open, as a new item is
        return Sent(str(response.json()["key"]), warnings)

    def update(self, key: str, item: ExportItem, changed: list[str]) -> Sent:
        full = self._fields(item)
        wanted = {
            "title": ["summary"], "description": ["description"], "item_type": ["issuetype"], "labels": ["labels"],
            "priority": ["priority"], "story_points": [self.points_field],
        }  # fmt: skip
        names = {name for field_name in changed for name in wanted.get(field_name, [])}
        fields = {name: full.get(name) for name in names}  # a field the item no longer has is cleared
        warnings: list[str] = []
        if fields:
            _, warnings = self._send("PUT", f"/issue/{key}", fields, f"update {key}")
        if "closed" in changed:
            warnings += self._transition(key, done=item.closed)
        return Sent(key, warnings)

    def issues(self) -> Iterator[list[dict[str, Any]]]:
        """The project's issues, a page at a time (the enhanced search, `nextPageToken`)."""
        fields = (
            f"summary,issuetype,priority,labels,description,status,resolution,parent,issuelinks,{self.points_field}"
        )
        params: dict[str, Any] = {
            "jql": f'project = "{self.project}" ORDER BY key ASC',
            "fields": fields,
            "maxResults": PAGE,
        }
        while True:
            found = self.http.call("GET", "/search/jql?" + urlencode(params))
            if found.status_code != 200:
                raise _fail(self.name, f"list the issues of {self.project}", found)
            page = found.json()
            yield page.get("issues") or []
            if page.get("isLast", True) or not page.get("nextPageToken"):
                return
            params["nextPageToken"] = page["nextPageToken"]

    def _transition(self, key: str, done: bool) -> list[str]:
        """Move the issue to a status of the Done category (or back to To Do); a warning when its workflow has no
        such transition from where it is."""
        wanted = ("done",) if done else ("new", "indeterminate")
        found = self.http.call("GET", f"/issue/{key}/transitions")
        if found.status_code != 200:
            raise _fail(self.name, f"list the transitions of {key}", found)
        for category in wanted:
            for transition in found.json().get("transitions", []):
                if transition.get("to", {}).get("statusCategory", {}).get("key") == category:
                    body = {"transition": {"id": transition["id"]}}
                    moved = self.http.call("POST", f"/issue/{key}/transitions", body)
                    if moved.status_code >= 300:
                        raise _fail(self.name, f"move {key} to {transition['to'].get('name')}", moved)
                    return []
        to = "done" if done else "to do"
        return [f"{key}'s workflow has no transition to {to} from its status: change it in Jira"]

    def close(self) -> None:
        self.http.close()


class GitHub:
    """GitHub issues of one repository, with a token that may write issues (a fine-grained token: Issues, write)."""

    kind = TrackerKind.github
    name = "GitHub"
    import_format = "github_json"

    def __init__(self, url: str, repo: str, token: str) -> None:
        client = httpx.Client(
            base_url=url.rstrip("/"), timeout=TIMEOUT_S,
            headers={"Authorization": f"Bearer {token}", "Accept": "application/vnd.github+json",
                     "X-GitHub-Api-Version": "2022-11-28"},
        )  # fmt: skip
        self.http, self.repo = Http(client, self.name), repo

    def check(self) -> str:
        found = self.http.call("GET", f"/repos/{self.repo}")
        if found.status_code != 200:
            raise _fail(self.name, f"find the repository {self.repo}", found)
        repo = found.json()
        said = f"GitHub repository {repo.get('full_name', self.repo)}"
        if repo.get("has_issues") is False:
            raise TrackerError(f"{said} has issues turned off: turn them on in its settings")
        if (repo.get("permissions") or {}).get("push") is False:
            said += " (the token may not be able to add labels: it has no write access)"
        return said

    def create(self, item: ExportItem) -> Sent:
        body = to_github_json([item])[0]  # open: a closed item is never created (service.push_item)
        response = self.http.call("POST", f"/repos/{self.repo}/issues", body, once=True)
        if response.status_code >= 300:
            raise _fail(self.name, "create the issue", response)
        return Sent(f"{self.repo}#{response.json()['number']}")

    def update(self, key: str, item: ExportItem, changed: list[str]) -> Sent:
        full = to_github_json([item])[0]
        wanted = {
            "title": ["title"], "description": ["body"], "labels": ["labels"], "item_type": ["labels"],
            "closed": ["state", "state_reason"],
        }  # fmt: skip
        names = {name for field_name in changed for name in wanted.get(field_name, [])}
        body = {name: full.get(name) for name in names}
        if "state" in body and body["state"] is None:
            body |= {"state": "open", "state_reason": "reopened"}
        if body:
            self._patch(int(key.rsplit("#", 1)[1]), body)
        return Sent(key)

    def issues(self) -> Iterator[list[dict[str, Any]]]:
        """The repository's issues, open and closed, a page at a time; pull requests left out."""
        page = 1
        while True:
            found = self.http.call("GET", f"/repos/{self.repo}/issues?state=all&per_page={PAGE}&page={page}")
            if found.status_code != 200:
                raise _fail(self.name, f"list the issues of {self.repo}", found)
            issues = found.json()
            yield [issue for issue in issues if not issue.get("pull_request")]
            if len(issues) < PAGE:
                return
            page += 1

    def _patch(self, number: int, body: dict[str, Any]) -> None:
        response = self.http.call("PATCH", f"/repos/{self.repo}/issues/{number}", body)
        if response.status_code >= 300:
            raise _fail(self.name, f"update {self.repo}#{number}", response)

    def close(self) -> None:
        self.http.close()


LINEAR_API = "https://api.linear.app"
LINEAR_REFUSED = frozenset({"authentication_error", "forbidden"})


class Linear:
    """Linear's GraphQL API for one team, with a personal API key (or an OAuth token). An issue is created with the
    id the `linear_json` export gives the item, so a create repeated after a crash finds the issue made the first
    time instead of making a second."""

    kind = TrackerKind.linear
    name = "Linear"
    import_format = "linear_json"

    def __init__(self, url: str, team: str, token: str) -> None:
        auth = token if token.startswith("lin_api_") else f"Bearer {token}"  # personal keys go bare
        client = httpx.Client(base_url=url.rstrip("/"), timeout=TIMEOUT_S, headers={"Authorization": auth})
        self.http, self.team_key = Http(client, self.name), team
        self._team: dict[str, Any] | None = None

    def _run(self, query: str, variables: dict[str, Any], what: str) -> dict[str, Any]:
        """The query's `data`; GraphQL errors as TrackerError (Refused for credentials), rate limits retried."""
        for attempt in range(ATTEMPTS):
            response = self.http.call("POST", "/graphql", {"query": query, "variables": variables})
            body = response.json() if "json" in response.headers.get("content-type", "") else {}
            errors = body.get("errors") or []
            kinds = {(e.get("extensions") or {}).get("type") for e in errors}
            if "ratelimited" in kinds and attempt < ATTEMPTS - 1:
                self.http.sleep(_wait_s(response, attempt))
                continue
            said = "; ".join(
                str((e.get("extensions") or {}).get("userPresentableMessage") or e.get("message")) for e in errors
            )
            if kinds & LINEAR_REFUSED:
                raise Refused(f"Linear refused the request ({said}): check the API key and its team access")
            if errors or response.status_code >= 300 or not body.get("data"):
                raise TrackerError(f"Linear did not {what} ({response.status_code}: {said or _detail(response)})")
            return body["data"]
        raise AssertionError("unreachable")  # pragma: no cover

    def team(self) -> dict[str, Any]:
        """The team: its id, name, workflow states and labels (the team's and the workspace's), read once."""
        if self._team is None:
            found = self._run(
                "query Team($key: String!) { teams(filter: {key: {eq: $key}}) { nodes { id name "
                "states { nodes { id name type } } labels { nodes { id name } } } } "
                "issueLabels(filter: {team: {null: true}}) { nodes { id name } } }",
                {"key": self.team_key}, f"find team {self.team_key}",
            )  # fmt: skip
            nodes = found["teams"]["nodes"]
            if not nodes:
                raise TrackerError(f"Linear has no team with key {self.team_key} that this key can see")
            team = nodes[0]
            labels = [*found["issueLabels"]["nodes"], *team["labels"]["nodes"]]
            self._team = {**team, "label_ids": {label["name"].lower(): label["id"] for label in labels}}
        return self._team

    def check(self) -> str:
        viewer = self._run("query { viewer { name } }", {}, "say who the key belongs to")["viewer"]
        return f"signed in to Linear as {viewer['name']}; team {self.team_key}: {self.team()['name']}"

    def _label_ids(self, names: list[str], warnings: list[str]) -> list[str]:
        """The ids of the labels named (any case); a label the workspace lacks is made in the team."""
        known, ids = self.team()["label_ids"], []
        for name in names:
            if name.lower() not in known:
                made = self._run(
                    "mutation Label($input: IssueLabelCreateInput!) { issueLabelCreate(input: $input) "
                    "{ success issueLabel { id } } }",
                    {"input": {"name": name, "teamId": self.team()["id"]}}, f"make the label {name}",
                )  # fmt: skip
                known[name.lower()] = made["issueLabelCreate"]["issueLabel"]["id"]
                warnings.append(f"made the label {name} in team {self.team_key}")
            ids.append(known[name.lower()])
        return ids

    def _state_id(self, done: bool) -> str | None:
        """A workflow state of the Done kind (completed), or for reopening the first to-do kind (unstarted, backlog)."""
        states = self.team()["states"]["nodes"]
        for kind in ("completed",) if done else ("unstarted", "backlog"):
            for state in states:
                if state.get("type") == kind:
                    return str(state["id"])
        return None

    def _input(self, item: ExportItem, warnings: list[str]) -> dict[str, Any]:
        issue = to_linear_json([item])[0]
        issue["labelIds"] = self._label_ids(issue.pop("labelNames"), warnings)
        issue.pop("stateName", None)  # open, as a new item is (a closed one is never created)
        if item.parent:
            parent = self._run("query Parent($id: String!) { issue(id: $id) { id } }", {"id": item.parent},
                               f"find the parent {item.parent}")  # fmt: skip
            issue["parentId"] = parent["issue"]["id"]
        return issue

    def create(self, item: ExportItem) -> Sent:
        warnings: list[str] = []
        issue = {"teamId": self.team()["id"], **self._input(item, warnings)}
        try:
            made = self._run(
                "mutation Create($input: IssueCreateInput!) { issueCreate(input: $input) "
                "{ success issue { identifier } } }",
                {"input": issue}, "create the issue",
            )  # fmt: skip
        except Refused:
            raise
        except TrackerError:
            found = self._existing(issue["id"])  # made by an earlier try whose answer was lost
            if found is None:
                raise
            return Sent(found, [*warnings, f"{found} was already made by an earlier try: not made again"])
        return Sent(str(made["issueCreate"]["issue"]["identifier"]), warnings)

    def _existing(self, issue_id: str) -> str | None:
        try:
            found = self._run("query Issue($id: String!) { issue(id: $id) { identifier } }", {"id": issue_id}, "")
        except Refused:
            raise
        except TrackerError:
            return None
        return str(found["issue"]["identifier"]) if found.get("issue") else None

    def update(self, key: str, item: ExportItem, changed: list[str]) -> Sent:
        warnings: list[str] = []
        full = to_linear_json([item])[0]
        wanted = {"title": "title", "description": "description", "priority": "priority", "story_points": "estimate"}
        issue = {wanted[name]: full.get(wanted[name]) for name in changed if name in wanted}
        if {"labels", "item_type"} & set(changed):
            issue["labelIds"] = self._label_ids(full["labelNames"], warnings)
        if "closed" in changed:
            state = self._state_id(done=item.closed)
            if state is None:
                warnings.append(f"team {self.team_key} has no state to {'close' if item.closed else 'reopen'} it in")
            else:
                issue["stateId"] = state
        if issue:
            self._run(
                "mutation Update($id: String!, $input: IssueUpdateInput!) { issueUpdate(id: $id, input: $input) "
                "{ success } }",
                {"id": key, "input": issue}, f"update {key}",
            )  # fmt: skip
        return Sent(key, warnings)

    def issues(self) -> Iterator[list[dict[str, Any]]]:
        """The team's issues, a page at a time, with what the `linear_json` import reads (blocks relations too)."""
        after = None
        while True:
            found = self._run(
                "query Issues($key: String!, $after: String) { issues(filter: {team: {key: {eq: $key}}}, "
                f"first: {PAGE}, after: $after) {{ nodes {{ id identifier title description priority estimate "
                "labels { nodes { name } } parent { identifier } state { type name } "
                "relations { nodes { type relatedIssue { identifier } } } "
                "inverseRelations { nodes { type issue { identifier } } } } pageInfo { hasNextPage endCursor } } }",
                {"key": self.team_key, "after": after}, f"list the issues of team {self.team_key}",
            )["issues"]  # fmt: skip
            yield found["nodes"]
            if not found["pageInfo"]["hasNextPage"]:
                return
            after = found["pageInfo"]["endCursor"]

    def close(self) -> None:
        self.http.close()
