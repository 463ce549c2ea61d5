"""A stand-in for Jira Cloud's, GitHub's and Linear's issue APIs: a real HTTP server (http.server on a free loopback
port, in a thread) that keeps issues in memory and answers as their documentation says for the calls Refinery makes.
It is not Jira, GitHub or Linear (none can be reached here): it checks what the real ones refuse that Refinery could
get wrong (credentials, the project, a description that is not valid ADF by Atlassian's own schema, a priority or
issue type the project lacks, a field not on the create screen, labels with spaces, a parent that does not exist),
and it can be told to answer the next writes with given failures (429 with Retry-After, 500, 400) or to lose the
answers of the next creates it carries out (a 502 instead). Linear's GraphQL is answered by operation name, for the
queries and mutations Refinery sends: it refuses an unknown team, label, state or parent, an issue id that is not a
UUID v4, and an id already taken."""

from __future__ import annotations

import base64
import functools
import json
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import jsonschema

from tests.webhook_receiver import serving

ADF_SCHEMA = Path("/work/shared/schemas/adf-v1-full.json")
USER, TOKEN = "ana@acme.test", "jira-api-token"
DC_PAT = "jira-data-center-personal-access-token"
DC_EPIC_LINK, DC_EPIC_NAME = "customfield_10101", "customfield_10102"  # Data Center's (Jira Software's) epic fields
DC_FIELDS = [
    {"id": "summary", "name": "Summary", "custom": False, "schema": {"type": "string", "system": "summary"}},
    {"id": DC_EPIC_LINK, "name": "Epic Link", "custom": True,
     "schema": {"type": "any", "custom": "com.pyxis.greenhopper.jira:gh-epic-link", "customId": 10101}},
    {"id": DC_EPIC_NAME, "name": "Epic Name", "custom": True,
     "schema": {"type": "string", "custom": "com.pyxis.greenhopper.jira:gh-epic-label", "customId": 10102}},
]  # fmt: skip
GITHUB_TOKEN = "github_pat_standin"
LINEAR_KEY = "lin_api_standin"
LINEAR_STATES = [
    {"id": "state-backlog", "name": "Backlog", "type": "backlog"},
    {"id": "state-todo", "name": "Todo", "type": "unstarted"},
    {"id": "state-done", "name": "Done", "type": "completed"},
]
LONG_AGO = datetime(2026, 1, 1, tzinfo=UTC)  # when what a stand-in's first listing finds was last updated
PRIORITIES = {"Highest", "High", "Medium", "Low", "Lowest"}
TRANSITIONS = [
    {"id": "11", "name": "To Do", "to": {"name": "To Do", "statusCategory": {"key": "new"}}},
    {"id": "21", "name": "In Progress", "to": {"name": "In Progress", "statusCategory": {"key": "indeterminate"}}},
    {"id": "31", "name": "Done", "to": {"name": "Done", "statusCategory": {"key": "done"}}},
]


@dataclass
class Call:
    method: str
    path: str
    body: Any


@dataclass
class Standin:
    url: str
    project: str = "SHOP"
    repo: str = "acme/shop"
    issue_types: set[str] = field(default_factory=lambda: {"Story", "Bug", "Task", "Epic"})
    screen: set[str] = field(default_factory=lambda: {"customfield_10016"})  # custom fields on the create screen
    issues: dict[str, dict[str, Any]] = field(default_factory=dict)  # Jira key or GitHub number -> the issue
    calls: list[Call] = field(default_factory=list)
    failures: list[tuple[int, dict[str, Any], dict[str, str]]] = field(default_factory=list)  # for the next writes
    lose_creates: int = 0  # the next creates are carried out, then answered 502 (the answer lost on the way)
    lose_comments: int = 0  # the same for the next comments posted
    jira_software: bool = True  # Data Center: its Epic Link and Epic Name fields exist
    team: str = "ENG"
    labels: dict[str, str] = field(default_factory=lambda: {"label-feature": "Feature", "label-bug": "Bug"})
    lock: threading.Lock = field(default_factory=threading.Lock)
    jira_links: dict[str, tuple[str, str]] = field(default_factory=dict)  # link id -> (blocker key, blocked key)
    github_blocks: set[tuple[str, str]] = field(default_factory=set)  # (blocked number, blocker number)
    relations: dict[str, dict[str, str]] = field(default_factory=dict)  # Linear: id -> type, issueId, relatedIssueId
    rank: list[str] = field(default_factory=list)  # Jira's rank: its issues' keys in the backlog's order there
    comments: list[tuple[str, Any]] = field(default_factory=list)  # (issue key / number / identifier, body as sent)
    comments_deleted: set[int] = field(default_factory=set)  # the ids of comments deleted there (an edit gets a 404)
    comment_authors: dict[int, str] = field(default_factory=dict)  # by id, those not the token's user's
    comment_times: dict[int, str] = field(default_factory=dict)  # by id, when written ("2026-11-29T10:00:00.000+0000")
    jira_search_comments: int = 2  # how many of an issue's comments Jira's search gives (the rest: a call a page)
    linear_comment_page: int = 2  # how many comments a page of Linear's has (Linear's own: 50 unless asked)
    linear_relation_page: int = 50  # and how many relations (either way)
    stamps: dict[str, tuple[str, datetime]] = field(default_factory=dict)  # by issue or comment: as read, and since

    def updated(self, name: str, shown: Any) -> datetime:
        """When the issue or comment `name` was last updated: when it was first read as `shown` (all it is there now),
        or long ago for what the first listing finds. A change a test makes straight in the stand-in, or an issue it
        adds, counts from the next listing, after the change, as a real tracker's update time would."""
        said = json.dumps(shown, sort_keys=True, default=str)
        if name not in self.stamps:
            self.stamps[name] = (said, datetime.now(UTC) if self.stamps else LONG_AGO)
        elif self.stamps[name][0] != said:
            self.stamps[name] = (said, datetime.now(UTC))
        return self.stamps[name][1]

    def age(self) -> None:
        """As if all read so far was last updated long ago, beyond what a pull looks back to."""
        self.stamps = {name: (said, LONG_AGO) for name, (said, _at) in self.stamps.items()}

    def has_comment(self, number: int) -> bool:
        """Whether the comment `number` (its place, from 1, in `comments`) is there: made, and not deleted."""
        return 0 < number <= len(self.comments) and number not in self.comments_deleted

    def comments_by_issue(self) -> dict[str, list[dict[str, Any]]]:
        """The comments not deleted, by issue (a key, number or identifier), oldest first, in a neutral shape:
        number, author, body, created."""
        found: dict[str, list[dict[str, Any]]] = {}
        for n, (key, body) in enumerate(self.comments, 1):
            if n not in self.comments_deleted:
                found.setdefault(key, []).append(
                    {"number": n, "author": self.comment_authors.get(n, "Refinery Bot"), "body": body,
                     "created": self.comment_times.get(n, f"2026-11-0{1 + n % 9}T10:00:00.000+0000")}
                )  # fmt: skip
        return found

    def comment_nodes(self, issue: str, start: int = 0) -> list[dict[str, Any]]:
        return self.comments_by_issue().get(issue, [])[start:]

    @staticmethod
    def jira_comments(nodes: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Comments as Jira gives them."""
        return [
            {"id": str(30000 + c["number"]), "author": {"displayName": c["author"]}, "body": c["body"],
             "created": c["created"]}
            for c in nodes
        ]  # fmt: skip

    def writes(self) -> list[Call]:
        return [c for c in self.calls if c.method != "GET"]

    def jira(self) -> dict[str, dict[str, Any]]:
        return {k: v for k, v in self.issues.items() if not k.isdigit()}

    def github(self) -> dict[str, dict[str, Any]]:
        return {k: v for k, v in self.issues.items() if k.isdigit()}

    def linear(self) -> dict[str, dict[str, Any]]:
        """Linear's issues by identifier (ENG-1)."""
        return {v["identifier"]: v for k, v in self.issues.items() if k.startswith("linear:")}

    def linear_order(self) -> list[str]:
        """Linear's manual order: its issues' identifiers by `sortOrder`, lowest first (at the top)."""
        return [k for k, v in sorted(self.linear().items(), key=lambda kv: float(kv[1].get("sortOrder", 0.0)))]

    def blocked_by(self) -> set[tuple[str, str]]:
        """Every "blocked by" link, as (blocked, blocker) keys: SHOP-2 / 2 / ENG-2."""
        by_id = {v["id"]: k for k, v in self.linear().items()}
        return (
            {(blocked, blocker) for blocker, blocked in self.jira_links.values()}
            | self.github_blocks
            | {(by_id[r["relatedIssueId"]], by_id[r["issueId"]]) for r in self.relations.values()}
        )


def _jira_links(site: Standin, key: str) -> list[dict[str, Any]]:
    """An issue's links as Jira gives them (Atlassian's issue linking model): the other issue of each, as
    `inwardIssue` (the issue it is blocked by) or `outwardIssue` (one it blocks)."""
    kind = {"name": "Blocks", "inward": "is blocked by", "outward": "blocks"}
    return [
        {"id": link_id, "type": kind, **({"inwardIssue": {"key": blocker}} if blocked == key else {}),
         **({"outwardIssue": {"key": blocked}} if blocker == key else {})}
        for link_id, (blocker, blocked) in site.jira_links.items() if key in (blocker, blocked)
    ]  # fmt: skip


def _github_issue(site: Standin, number: str) -> dict[str, Any]:
    """A GitHub issue as its API gives it: database id, labels as objects, addresses, its dependencies' and
    sub-issues' counts."""
    issue = site.issues[number]
    blockers = [b for blocked, b in site.github_blocks if blocked == number]
    blocking = [blocked for blocked, b in site.github_blocks if b == number]
    still = [b for b in blockers if site.issues[b].get("state") == "open"]
    summary = {"blocked_by": len(still), "total_blocked_by": len(blockers), "blocking": len(blocking),
               "total_blocking": len(blocking)}  # fmt: skip
    url = f"{site.url}/repos/{site.repo}/issues/{number}"
    children = [n for n, other in site.github().items() if other.get("parent_issue_url") == url]
    done = sum(site.issues[n].get("state") == "closed" for n in children)
    return {
        **issue, "id": 1000 + int(number), "number": int(number),
        "labels": [{"name": name} for name in issue.get("labels", [])],
        "html_url": f"https://github.com/{site.repo}/issues/{number}", "url": url,
        "repository_url": f"{site.url}/repos/{site.repo}", "issue_dependencies_summary": summary,
        "comments": len(site.comment_nodes(number)),
        "sub_issues_summary": {"total": len(children), "completed": done,
                               "percent_completed": 100 * done // len(children) if children else 0},
    }  # fmt: skip


def _linear(site: Standin, query: str, variables: dict[str, Any]) -> tuple[dict[str, Any] | None, str | None]:
    """(data, error) for one GraphQL request, by its operation."""
    issues = {v["id"]: v for v in site.linear().values()} | site.linear()
    if query.startswith("query { viewer"):
        return {"viewer": {"name": "Ana Lima"}}, None
    if query.startswith("query Team("):
        labels = {"nodes": [{"id": i, "name": n} for i, n in site.labels.items() if not i.startswith("team-label")]}
        team = {
            "id": "team-1",
            "name": "Engineering",
            "states": {"nodes": LINEAR_STATES},
            "labels": {"nodes": [{"id": i, "name": n} for i, n in site.labels.items() if i.startswith("team-label")]},
        }
        return {"teams": {"nodes": [team] if variables["key"] == site.team else []}, "issueLabels": labels}, None
    if query.startswith("mutation Label("):
        made = f"team-label-{len(site.labels)}"
        site.labels[made] = variables["input"]["name"]
        return {"issueLabelCreate": {"success": True, "issueLabel": {"id": made}}}, None
    if query.startswith(("query Parent(", "query Issue(")):
        found = issues.get(variables["id"])
        return (
            ({"issue": {"id": found["id"], "identifier": found["identifier"]}}, None)
            if found
            else (None, "Entity not found")
        )
    if query.startswith("mutation Create("):
        issue = variables["input"]
        if issue.get("teamId") != "team-1" or not str(issue.get("title", "")).strip():
            return None, "Argument Validation Error: teamId and title are required"
        if issue["id"] in issues or not re.fullmatch(
            r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}", issue["id"]
        ):
            return None, "Entity already exists or id is not a UUID v4"
        if set(issue.get("labelIds", [])) - set(site.labels) or issue.get("parentId", issue["id"]) not in {
            *issues,
            issue["id"],
        }:
            return None, "Entity not found: a label or the parent"
        if issue.get("stateId") not in (None, *(state["id"] for state in LINEAR_STATES)):
            return None, "Entity not found: the state"
        identifier = f"{site.team}-{len(site.linear()) + 1}"
        bottom = max((float(i.get("sortOrder", 0.0)) for i in site.linear().values()), default=0.0)
        site.issues[f"linear:{issue['id']}"] = {**issue, "identifier": identifier, "sortOrder": bottom + 1000.0}
        return {"issueCreate": {"success": True, "issue": {"identifier": identifier}}}, None
    if query.startswith("query Issues("):
        wanted = variables["filter"]
        found = _linear_issues(site) if wanted["team"]["key"]["eq"] == site.team else []
        changed = {i["id"]: _linear_updated(site, i) for i in found}
        if "or" in wanted:  # updated since, or with a comment updated since
            start = datetime.fromisoformat(wanted["or"][0]["updatedAt"]["gte"])
            found = [i for i in found if changed[i["id"]] >= start]
        return {"issues": {"nodes": found, "pageInfo": {"hasNextPage": False, "endCursor": None}}}, None
    if query.startswith("query OneIssue("):
        found = issues.get(variables["id"])
        if found is None:
            return None, "Entity not found: Issue"
        return {"issue": {**_linear_issue(site, found), "team": {"key": site.team}}}, None
    if query.startswith("query More("):  # the next page of an issue's relations or comments
        found = issues.get(variables["id"])
        if found is None:
            return None, "Entity not found"
        name = re.search(r"\{ (\w+)\(first:", query).group(1)
        start = int(variables["after"])
        if name == "comments":
            return {"issue": {"comments": _linear_comments(site, found["identifier"], start)}}, None
        return {"issue": {name: _linear_relations(site, found, name, start)}}, None
    if query.startswith("query Blockers("):
        found = issues.get(variables["id"])
        if found is None:
            return None, "Entity not found"
        nodes = [{"id": rid, "type": r["type"], "issue": {"identifier": issues[r["issueId"]]["identifier"]}}
                 for rid, r in site.relations.items() if r["relatedIssueId"] == found["id"]]  # fmt: skip
        return {"issue": {"id": found["id"], "inverseRelations": {"nodes": nodes}}}, None
    if query.startswith("mutation Relate("):
        wanted = variables["input"]
        ids = {v["id"] for v in site.linear().values()}
        if wanted.get("type") not in ("blocks", "related", "duplicate") or not {
            wanted.get("issueId"), wanted.get("relatedIssueId")} <= ids:  # fmt: skip
            return None, "Entity not found: issueId and relatedIssueId must be issue ids"
        site.relations[f"relation-{len(site.relations) + 1}"] = wanted
        return {"issueRelationCreate": {"success": True}}, None
    if query.startswith("mutation Unrelate("):
        if site.relations.pop(variables["id"], None) is None:
            return None, "Entity not found"
        return {"issueRelationDelete": {"success": True}}, None
    if query.startswith("mutation Comment("):
        wanted = variables["input"]
        found = {v["id"]: v for v in site.linear().values()}.get(wanted.get("issueId"))
        if found is None or not str(wanted.get("body", "")).strip():
            return None, "Entity not found: issueId must be an issue id, and body is required"
        site.comments.append((found["identifier"], wanted["body"]))
        return {"commentCreate": {"success": True, "comment": {"id": f"comment-{len(site.comments)}"}}}, None
    if query.startswith("mutation Edit("):
        number = int(str(variables["id"]).removeprefix("comment-") or 0)
        if not site.has_comment(number):
            return None, "Entity not found: Could not find referenced Comment."
        site.comments[number - 1] = (site.comments[number - 1][0], variables["input"]["body"])
        return {"commentUpdate": {"success": True}}, None
    if query.startswith("mutation Uncomment("):
        number = int(str(variables["id"]).removeprefix("comment-") or 0)
        if not site.has_comment(number):
            return None, "Entity not found: Could not find referenced Comment."
        site.comments_deleted.add(number)
        return {"commentDelete": {"success": True}}, None
    if query.startswith("mutation Update("):
        found = issues.get(variables["id"])
        if found is None:
            return None, "Entity not found"
        found.update(variables["input"])
        return {"issueUpdate": {"success": True}}, None
    return None, f"unknown operation: {query[:40]}"


@functools.cache
def _adf() -> jsonschema.protocols.Validator:
    return jsonschema.Draft4Validator(json.loads(ADF_SCHEMA.read_text(encoding="utf-8")))


def _jira_field_errors(site: Standin, fields: dict[str, Any], creating: bool, v2: bool = False) -> dict[str, str]:
    """What Jira refuses in `fields`: Cloud (REST v3) wants an ADF description, Data Center (`v2`) a string, and takes
    a parent only for a sub-task (an epic's stories are linked by its Epic Link field there); on Cloud a story, task
    or bug goes only under an Epic."""
    errors: dict[str, str] = {}
    known = {"project", "summary", "issuetype", "description", "labels", "priority", "parent", *site.screen}
    known |= {DC_EPIC_LINK, DC_EPIC_NAME} if v2 and site.jira_software else set()
    for name in fields:
        if name not in known:
            errors[name] = f"Field '{name}' cannot be set. It is not on the appropriate screen, or unknown."
    if creating and fields.get("project", {}).get("key") != site.project:
        errors["project"] = "valid project is required"
    if creating or "summary" in fields:
        summary = fields.get("summary")
        if not isinstance(summary, str) or not summary.strip() or "\n" in summary or len(summary) > 255:
            errors["summary"] = "You must specify a summary of the issue."
    issue_type = (fields.get("issuetype") or {}).get("name")
    if (creating or "issuetype" in fields) and issue_type not in site.issue_types:
        errors["issuetype"] = "Specify a valid issue type"
    if "description" in fields and fields["description"] is not None and v2:
        if not isinstance(fields["description"], str):
            errors["description"] = "Operation value must be a string"
    elif "description" in fields and fields["description"] is not None:
        try:
            _adf().validate(fields["description"])
        except jsonschema.ValidationError as exc:
            errors["description"] = f"Operation value must be an Atlassian Document: {exc.message[:100]}"
    if fields.get("priority") is not None and fields["priority"].get("name") not in PRIORITIES:
        errors["priority"] = "Specify the Priority (name) in the string format"
    if any(" " in label for label in fields.get("labels") or []):
        errors["labels"] = "The label must not contain spaces."
    if fields.get("parent") and fields["parent"].get("key") not in site.issues:
        errors["parent"] = "Could not find issue by id or key."
    elif fields.get("parent") and v2 and issue_type != "Sub-task":
        errors["parent"] = "Field 'parent' cannot be set. It is not on the appropriate screen, or unknown."
    elif fields.get("parent") and (site.issues[fields["parent"]["key"]].get("issuetype") or {}).get("name") != "Epic":
        errors["parent"] = "Given parent work item does not belong to appropriate hierarchy."  # Cloud: under an epic
    if v2 and fields.get(DC_EPIC_LINK) is not None and (
        (site.issues.get(fields[DC_EPIC_LINK]) or {}).get("issuetype") or {}).get("name") != "Epic":  # fmt: skip
        errors[DC_EPIC_LINK] = f"The issue key '{fields[DC_EPIC_LINK]}' for field 'Epic Link' is invalid."
    if v2 and site.jira_software and creating and issue_type == "Epic" and not fields.get(DC_EPIC_NAME):
        errors[DC_EPIC_NAME] = "Epic Name is required."
    elif v2 and DC_EPIC_NAME in fields and issue_type not in (None, "Epic"):
        errors[DC_EPIC_NAME] = f"Field '{DC_EPIC_NAME}' cannot be set. It is not on the appropriate screen, or unknown."
    return errors


def _jira_issues(site: Standin) -> list[dict[str, Any]]:
    """Jira's issues as its search gives them: key and fields, the status with its category."""
    found, said = [], site.comments_by_issue()
    for key, issue in sorted(site.jira().items(), key=lambda pair: int(pair[0].split("-")[1])):
        fields = {name: value for name, value in issue.items() if name not in ("project", "status")}
        done = issue["status"] == "Done"
        fields["status"] = {"name": issue["status"], "statusCategory": {"key": "done" if done else "new"}}
        fields["issuelinks"] = _jira_links(site, key)
        first = site.jira_comments(said.get(key, [])[: site.jira_search_comments])
        total = len(said.get(key, []))
        fields["comment"] = {"comments": first, "startAt": 0, "maxResults": len(first), "total": total}
        found.append({"id": key, "key": key, "fields": fields})
    return found


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _jira_found(site: Standin, query: dict[str, list[str]]) -> list[dict[str, Any]]:
    """The issues a search's JQL finds: the project's, made in the last N minutes when it says `created >= "-Nm"`
    (an issue put in by a test without `created` is older), updated in them when it says `updated >= "-Nm"` (its
    fields, links or comments changed: `Standin.updated`), newest first when it orders by `created DESC`."""
    jql = query.get("jql", [""])[0]
    found, said = _jira_issues(site), site.comments_by_issue()
    changed = {i["key"]: site.updated(f"jira:{i['key']}", [i, said.get(i["key"])]) for i in found}
    if within := re.search(r'created >= "-(\d+)m"', jql):
        start = datetime.now(UTC) - timedelta(minutes=int(within[1]))
        found = [i for i in found if datetime.fromisoformat(i["fields"].get("created") or "1970-01-01T00:00Z") >= start]
    if within := re.search(r'updated >= "-(\d+)m"', jql):
        start = datetime.now(UTC) - timedelta(minutes=int(within[1]))
        found = [i for i in found if changed[i["key"]] >= start]
    if "ORDER BY Rank ASC" in jql:  # issues put in by a test, not in the rank, come last
        return sorted(found, key=lambda i: site.rank.index(i["key"]) if i["key"] in site.rank else len(site.rank))
    return found[::-1] if "ORDER BY created DESC" in jql else found


def _github_found(site: Standin, query: dict[str, list[str]]) -> list[dict[str, Any]]:
    """The issues GitHub's list gives: updated since `since` (its fields or comments changed: `Standin.updated`),
    newest first for `sort=created&direction=desc`."""
    found, said = _github_issues(site), site.comments_by_issue()
    changed = {i["number"]: site.updated(f"github:{i['number']}", [i, said.get(str(i["number"]))]) for i in found}
    if since := query.get("since", [""])[0]:
        start = datetime.fromisoformat(since)
        found = [i for i in found if changed[i["number"]] >= start]
    return found[::-1] if query.get("direction") == ["desc"] else found


def _github_issues(site: Standin) -> list[dict[str, Any]]:
    """GitHub's issues as its list gives them."""
    return [_github_issue(site, n) for n in sorted(site.github(), key=int)]


def _linear_issues(site: Standin) -> list[dict[str, Any]]:
    """Linear's issues as the Issues query asks for them."""
    return [_linear_issue(site, issue) for issue in site.linear().values()]


def _linear_issue(site: Standin, issue: dict[str, Any]) -> dict[str, Any]:
    """One issue with the fields Refinery reads."""
    by_id = {issue["id"]: issue for issue in site.linear().values()}
    states = {state["id"]: state for state in LINEAR_STATES}
    return (
        {"id": issue["id"], "identifier": issue["identifier"], "title": issue["title"],
         "description": issue.get("description"), "priority": issue.get("priority", 0),
         "estimate": issue.get("estimate"), "sortOrder": issue.get("sortOrder", 0.0),
         "labels": {"nodes": [{"name": site.labels[label]} for label in issue.get("labelIds", [])]},
         "parent": {"identifier": by_id[issue["parentId"]]["identifier"]} if issue.get("parentId") else None,
         "state": states[issue.get("stateId", "state-todo")],
         "relations": _linear_relations(site, issue, "relations", 0),
         "inverseRelations": _linear_relations(site, issue, "inverseRelations", 0),
         "comments": _linear_comments(site, issue["identifier"], 0)}
    )  # fmt: skip


def _linear_relations(site: Standin, issue: dict[str, Any], name: str, start: int) -> dict[str, Any]:
    """A page of an issue's relations (`relations`: those it has to others; `inverseRelations`: others' to it) from
    the `start`-th, as Linear gives it."""
    by_id = {i["id"]: i for i in site.linear().values()}
    if name == "relations":
        nodes = [{"type": r["type"], "relatedIssue": {"identifier": by_id[r["relatedIssueId"]]["identifier"]}}
                 for r in site.relations.values() if r["issueId"] == issue["id"]]  # fmt: skip
    else:
        nodes = [{"type": r["type"], "issue": {"identifier": by_id[r["issueId"]]["identifier"]}}
                 for r in site.relations.values() if r["relatedIssueId"] == issue["id"]]  # fmt: skip
    page = nodes[start : start + site.linear_relation_page]
    more = len(nodes) > start + len(page)
    return {"nodes": page, "pageInfo": {"hasNextPage": more, "endCursor": str(start + len(page))}}


def _linear_updated(site: Standin, issue: dict[str, Any]) -> datetime:
    """When an issue or one of its comments was last updated (its relations are not counted, as Linear's own
    `updatedAt` is not asked to count them)."""
    own = {name: value for name, value in issue.items() if name not in ("comments", "relations", "inverseRelations")}
    comments = [site.updated(f"comment:{c['number']}", c) for c in site.comment_nodes(issue["identifier"])]
    return max([site.updated(f"linear:{issue['id']}", own), *comments])


def _linear_comments(site: Standin, identifier: str, start: int) -> dict[str, Any]:
    """A page of an issue's comments from the `start`-th, as Linear gives it (the cursor: where the next starts)."""
    nodes = site.comment_nodes(identifier, start)
    page = nodes[: site.linear_comment_page]
    return {
        "nodes": [{"id": f"comment-{c['number']}", "body": c["body"], "user": {"name": c["author"]},
                   "createdAt": c["created"].replace(".000+0000", "Z")} for c in page],
        "pageInfo": {"hasNextPage": len(nodes) > len(page), "endCursor": str(start + len(page))},
    }  # fmt: skip


@contextmanager
def standin() -> Iterator[Standin]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
    site = Standin(f"http://127.0.0.1:{server.server_address[1]}")

    class Handler(BaseHTTPRequestHandler):
        def _answer(self, status: int, body: Any = None, headers: dict[str, str] | None = None) -> None:
            raw = b"" if body is None else json.dumps(body).encode()
            self.send_response(status)
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            if raw:
                self.send_header("Content-Type", "application/json;charset=UTF-8")
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

        def _handle(self) -> None:
            length = int(self.headers.get("Content-Length", 0))
            body = json.loads(self.rfile.read(length)) if length else None
            with site.lock:
                site.calls.append(Call(self.command, self.path, body))
                if self.command != "GET" and site.failures:
                    self._answer(*site.failures.pop(0))
                    return
                creating = self.command == "POST" and (
                    self.path.endswith(("/issue", "/issues"))
                    or str((body or {}).get("query", "")).startswith("mutation Create(")
                )
                lose = creating and site.lose_creates > 0
                site.lose_creates -= lose
                commenting = self.command == "POST" and (
                    self.path.endswith(("/comment", "/comments"))
                    or str((body or {}).get("query", "")).startswith("mutation Comment(")
                )
                lost_comment = commenting and site.lose_comments > 0
                site.lose_comments -= lost_comment
                lose = lose or lost_comment
                answer = self._answer
                if lose:
                    self._answer = lambda *_args: answer(502, {"message": "Bad Gateway"})  # type: ignore[method-assign]
                path, query = urlsplit(self.path).path, parse_qs(urlsplit(self.path).query)
                if "Rank" in query.get("jql", [""])[0] and not site.jira_software:
                    self._answer(400, {"errorMessages": ["Field 'Rank' does not exist or you do not have permission."]})
                elif path == "/rest/api/3/search/jql" and self.command == "GET":
                    if self._jira_signed_in():
                        self._page(_jira_found(site, query), query, "maxResults", "nextPageToken")
                elif path == "/rest/api/2/search" and self.command == "GET":
                    if self._jira_signed_in(v2=True):
                        self._page(_jira_found(site, query), query, "maxResults", "startAt")
                elif path == "/rest/agile/1.0/issue/rank" and self.command == "PUT":
                    if self._jira_signed_in(v2=True):
                        self._jira_rank(body)
                elif self.path.startswith(("/rest/api/3/", "/rest/api/2/")):
                    self._jira(self.path[len("/rest/api/3") :], body, v2=self.path.startswith("/rest/api/2/"))
                elif path == f"/repos/{site.repo}/issues" and self.command == "GET":
                    if self.headers.get("Authorization") != f"Bearer {GITHUB_TOKEN}":
                        self._answer(401, {"message": "Bad credentials"})
                    else:
                        self._page(_github_found(site, query), query, "per_page", "page")
                elif self.path.startswith("/repos/"):
                    self._github(self.path, body)
                elif self.path == "/graphql":
                    self._graphql(body)
                else:
                    self._answer(404, {"message": "Not Found"})

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle  # noqa: N815 (http.server's names)

        def _jira_signed_in(self, v2: bool = False) -> bool:
            """Basic auth with the account and token; Data Center also takes its personal access token."""
            expected = {"Basic " + base64.b64encode(f"{USER}:{TOKEN}".encode()).decode()}
            if self.headers.get("Authorization") not in expected | ({f"Bearer {DC_PAT}"} if v2 else set()):
                self._answer(401, {"errorMessages": ["Client must be authenticated to access this resource."]})
                return False
            return True

        def _jira(self, path: str, body: Any, v2: bool = False) -> None:
            if not self._jira_signed_in(v2):
                return
            method, query, path = self.command, parse_qs(urlsplit(path).query), urlsplit(path).path
            if method == "GET" and path == "/field" and v2:
                self._answer(200, DC_FIELDS if site.jira_software else DC_FIELDS[:1])
            elif method == "GET" and path == "/myself":
                self._answer(200, {"accountId": "5b10ac8d82e05b22cc7d4ef5", "displayName": "Ana Lima"})
            elif method == "GET" and path.startswith("/project/"):
                found = path.removeprefix("/project/") == site.project
                self._answer(200 if found else 404, {"key": site.project, "name": "Shop"} if found else
                             {"errorMessages": [f"No project could be found with key '{path[9:]}'."]})  # fmt: skip
            elif method == "POST" and path == "/issue":
                errors = _jira_field_errors(site, body["fields"], creating=True, v2=v2)
                if errors:
                    self._answer(400, {"errorMessages": [], "errors": errors})
                    return
                key = f"{site.project}-{len(site.jira()) + 1}"
                site.issues[key] = {**body["fields"], "status": "To Do", "created": _now()}
                site.rank.append(key)  # a new issue goes to the bottom of the backlog
                self._answer(201, {"id": str(10000 + len(site.issues)), "key": key, "self": f"{site.url}/x/{key}"})
            elif method == "POST" and path == "/issueLink":
                keys = [(body.get(side) or {}).get("key") for side in ("inwardIssue", "outwardIssue")]
                if (body.get("type") or {}).get("name") != "Blocks" or not set(keys) <= set(site.issues):
                    self._answer(404, {"errorMessages": ["No issue link type or issue with that name or key."]})
                    return
                site.jira_links[str(20000 + len(site.jira_links))] = (keys[0], keys[1])  # inward: the blocker
                self._answer(201)
            elif method == "DELETE" and path.startswith("/issueLink/"):
                gone = site.jira_links.pop(path.removeprefix("/issueLink/"), None)
                self._answer(204 if gone else 404, None if gone else {"errorMessages": ["No issue link"]})
            elif method == "GET" and (said := re.fullmatch(r"/issue/([A-Z]+-\d+)/comment", path)):
                start, most = int(query.get("startAt", ["0"])[0]), int(query.get("maxResults", ["50"])[0])
                nodes = site.comment_nodes(said[1])
                page, total = site.jira_comments(nodes[start : start + most]), len(nodes)
                self._answer(200, {"comments": page, "startAt": start, "maxResults": most, "total": total})
            elif method == "DELETE" and (said := re.fullmatch(r"/issue/([A-Z]+-\d+)/comment/(\d+)", path)):
                number = int(said[2]) - 30000
                found = site.has_comment(number)
                site.comments_deleted.add(number)
                self._answer(204 if found else 404, None if found else {"errorMessages": ["Comment not found"]})
            elif method in ("POST", "PUT") and (said := re.fullmatch(r"/issue/([A-Z]+-\d+)/comment(?:/(\d+))?", path)):
                self._jira_comment(said[1], body, v2, said[2])
            elif (match := re.fullmatch(r"/issue/([A-Z]+-\d+)(/transitions)?", path)) is None:
                self._answer(404, {"errorMessages": ["Not found"]})
            elif match[1] not in site.issues:
                self._answer(404, {"errorMessages": ["Issue does not exist or you do not have permission to see it."]})
            elif match[2] and method == "GET":
                self._answer(200, {"transitions": TRANSITIONS})
            elif method == "GET":  # the issue as the search gives it (whatever `fields` asks for)
                self._answer(200, next(issue for issue in _jira_issues(site) if issue["key"] == match[1]))
            elif match[2] and method == "POST":
                moved = next(t for t in TRANSITIONS if t["id"] == body["transition"]["id"])
                site.issues[match[1]]["status"] = moved["to"]["name"]
                self._answer(204)
            elif method == "PUT":
                errors = _jira_field_errors(site, body["fields"], creating=False, v2=v2)
                if errors:
                    self._answer(400, {"errorMessages": [], "errors": errors})
                    return
                site.issues[match[1]].update(body["fields"])
                self._answer(204)
            else:
                self._answer(405, {"errorMessages": ["Method not allowed"]})

        def _jira_comment(self, key: str, body: Any, v2: bool, edited: str | None) -> None:
            """Add a comment, or change the comment `edited`: its `body` an ADF document (Cloud, REST v3) or a string
            (Data Center, REST v2)."""
            said = (body or {}).get("body")
            number = int(edited) - 30000 if edited else 0
            if key not in site.issues:
                self._answer(404, {"errorMessages": ["Issue does not exist or you do not have permission to see it."]})
            elif edited and (not site.has_comment(number)):
                self._answer(404, {"errorMessages": [f"Can not find a comment for the id: {edited}."]})
            elif not (
                isinstance(said, str) and said.strip() if v2 else isinstance(said, dict) and _adf().is_valid(said)
            ):
                self._answer(400, {"errorMessages": [], "errors": {"comment": "Comment body is not valid."}})
            elif edited:
                site.comments[number - 1] = (key, said)
                self._answer(200, {"id": edited, "body": said, "updated": _now()})
            else:
                site.comments.append((key, said))
                self._answer(201, {"id": str(30000 + len(site.comments)), "body": said, "created": _now()})

        def _jira_rank(self, body: Any) -> None:
            """Jira Software's rank API: up to 50 issues put, in the order given, just after or before another; 207
            with an entry per issue it could not move; none on a site without Jira Software."""
            if not site.jira_software:
                self._answer(404, {"errorMessages": ["Not found"]})
                return
            issues, anchor = body.get("issues") or [], body.get("rankAfterIssue") or body.get("rankBeforeIssue")
            if not 0 < len(issues) <= 50 or anchor not in site.rank or anchor in issues:
                self._answer(400, {"errorMessages": ["Give 1 to 50 issues and another issue to rank them by."]})
                return
            unknown = [key for key in issues if key not in site.rank]
            moved = [key for key in issues if key in site.rank]
            site.rank = [key for key in site.rank if key not in moved]
            at = site.rank.index(anchor) + ("rankAfterIssue" in body)
            site.rank[at:at] = moved
            if unknown:
                entries = [{"issueKey": key, "status": 404, "errors": ["Issue does not exist"]} for key in unknown]
                self._answer(207, {"entries": entries})
            else:
                self._answer(204)

        def _page(self, issues: list[dict[str, Any]], query: dict[str, list[str]], size: str, token: str) -> None:
            """A page of `issues`: Jira Cloud's enhanced search (`nextPageToken`, `isLast`), Jira Data Center's
            (`startAt`, `total`), or GitHub's (a list, `page`)."""
            per = int(query.get(size, ["50"])[0])
            if token == "page":  # GitHub: pages from 1
                start = (int(query.get("page", ["1"])[0]) - 1) * per
                self._answer(200, issues[start : start + per])
                return
            start = int(query.get(token, ["0"])[0])
            if token == "startAt":  # Jira Data Center's search: no token, the total instead
                self._answer(200, {"issues": issues[start : start + per], "startAt": start, "maxResults": per,
                                   "total": len(issues)})  # fmt: skip
                return
            page: dict[str, Any] = {"issues": issues[start : start + per], "isLast": start + per >= len(issues)}
            if not page["isLast"]:
                page["nextPageToken"] = str(start + per)
            self._answer(200, page)

        def _graphql(self, body: Any) -> None:
            if self.headers.get("Authorization") != LINEAR_KEY:
                refused = {"type": "authentication_error", "userPresentableMessage": "Your API key is not valid."}
                self._answer(401, {"errors": [{"message": "Authentication required", "extensions": refused}]})
                return
            data, error = _linear(site, body["query"], body.get("variables") or {})
            if error:
                said = {"type": "invalid_input", "userPresentableMessage": error}
                self._answer(200, {"data": None, "errors": [{"message": error, "extensions": said}]})
            else:
                self._answer(200, {"data": data})

        def _github(self, path: str, body: Any) -> None:
            if self.headers.get("Authorization") != f"Bearer {GITHUB_TOKEN}":
                self._answer(401, {"message": "Bad credentials"})
                return
            base, path = f"/repos/{site.repo}", urlsplit(path).path
            issue = re.fullmatch(
                rf"{base}/issues/(\d+)(/dependencies/blocked_by|/sub_issues?|/comments)?(?:/(\d+))?", path
            )
            edited = re.fullmatch(rf"{base}/issues/comments/(\d+)", path)
            if path == f"{base}/issues/comments" and self.command == "GET":
                every = [
                    {"id": 40000 + c["number"], "user": {"login": c["author"]}, "body": c["body"],
                     "created_at": c["created"].replace(".000+0000", "Z"),
                     "issue_url": f"{site.url}{base}/issues/{number}"}
                    for number, nodes in site.comments_by_issue().items() if number in site.github() for c in nodes
                ]  # fmt: skip
                changed = {c["id"]: site.updated(f"github-comment:{c['id']}", c) for c in every}
                if since := parse_qs(urlsplit(self.path).query).get("since", [""])[0]:  # updated since
                    every = [c for c in every if changed[c["id"]] >= datetime.fromisoformat(since)]
                self._page(
                    sorted(every, key=lambda c: c["id"]), parse_qs(urlsplit(self.path).query), "per_page", "page"
                )
            elif edited and self.command == "DELETE":
                number = int(edited[1]) - 40000
                found = site.has_comment(number)
                site.comments_deleted.add(number)
                self._answer(204 if found else 404, None if found else {"message": "Not Found"})
            elif edited and self.command == "PATCH":
                number = int(edited[1]) - 40000
                if not site.has_comment(number):
                    self._answer(404, {"message": "Not Found"})
                    return
                site.comments[number - 1] = (site.comments[number - 1][0], body["body"])
                self._answer(200, {"id": int(edited[1]), "body": body["body"]})
            elif issue and issue[1] not in site.issues:
                self._answer(404, {"message": "Not Found"})
            elif issue and issue[2] == "/sub_issues" and self.command == "POST":
                self._github_sub_issue(issue[1], body)
            elif issue and issue[2] == "/comments" and self.command == "GET":
                self._answer(200, [
                    {"id": 40000 + c["number"], "user": {"login": c["author"]}, "body": c["body"],
                     "created_at": c["created"].replace(".000+0000", "Z")}
                    for c in site.comment_nodes(issue[1])
                ])  # fmt: skip
            elif issue and issue[2] == "/comments" and self.command == "POST":
                if not isinstance((body or {}).get("body"), str) or not body["body"].strip():
                    invalid = [{"resource": "IssueComment", "field": "body", "code": "missing_field"}]
                    self._answer(422, {"message": "Validation Failed", "errors": invalid})
                    return
                site.comments.append((issue[1], body["body"]))
                self._answer(201, {"id": 40000 + len(site.comments), "body": body["body"]})
            elif issue and issue[2] == "/sub_issue" and self.command == "DELETE":
                self._github_sub_issue(issue[1], body, remove=True)
            elif issue and issue[2]:
                self._github_dependencies(issue[1], issue[3], body)
            elif issue and self.command == "GET":
                self._answer(200, _github_issue(site, issue[1]))
            elif not path.startswith(base):
                self._answer(404, {"message": "Not Found"})
            elif self.command == "GET" and path == base:
                self._answer(200, {"full_name": site.repo, "has_issues": True, "permissions": {"push": True}})
            elif self.command == "POST" and path == f"{base}/issues":
                title = body.get("title")
                if not isinstance(title, str) or not title.strip() or "state" in body:
                    invalid = [{"resource": "Issue", "field": "title", "code": "invalid"}]
                    self._answer(422, {"message": "Validation Failed", "errors": invalid})
                    return
                number = str(len(site.github()) + 1)
                site.issues[number] = {**body, "state": "open", "created_at": _now(), "updated_at": _now()}
                self._answer(201, _github_issue(site, number))
            elif self.command == "PATCH" and issue:
                site.issues[issue[1]].update(body, updated_at=_now())
                self._answer(200, {"number": int(issue[1])})
            else:
                self._answer(404, {"message": "Not Found"})

        def _github_sub_issue(self, number: str, body: Any, remove: bool = False) -> None:
            """POST /sub_issues {sub_issue_id, replace_parent}: the issue of that database id becomes a sub-issue of
            `number` (one parent each: one it has is replaced only when asked); DELETE /sub_issue {sub_issue_id}: it
            is one no more."""
            child = {str(1000 + int(n)): n for n in site.github()}.get(str((body or {}).get("sub_issue_id")))
            url = f"{site.url}/repos/{site.repo}/issues/{number}"
            if remove and (child is None or site.issues[child].get("parent_issue_url") != url):
                self._answer(404, {"message": "Not Found"})
                return
            if remove:
                site.issues[child or ""].pop("parent_issue_url")
                self._answer(200, _github_issue(site, number))
                return
            has_one = child is not None and site.issues[child].get("parent_issue_url")
            if child is None or child == number or has_one and not (body or {}).get("replace_parent"):
                self._answer(
                    422, {"message": "Validation Failed", "errors": [{"resource": "Issue", "code": "invalid"}]}
                )
                return
            site.issues[child]["parent_issue_url"] = url
            self._answer(201, _github_issue(site, number))

        def _github_dependencies(self, number: str, blocker_id: str | None, body: Any) -> None:
            """GET, POST ({issue_id}) and DELETE (/{issue_id}) of what issue `number` is blocked by, by database id."""
            by_id = {str(1000 + int(n)): n for n in site.github()}
            blockers = sorted(b for blocked, b in site.github_blocks if blocked == number)
            if self.command == "GET":
                self._answer(200, [_github_issue(site, b) for b in blockers])
            elif self.command == "POST":
                blocker = by_id.get(str((body or {}).get("issue_id")))
                if blocker is None or blocker == number or blocker in blockers:
                    invalid = [{"resource": "IssueDependency", "code": "invalid"}]
                    self._answer(422, {"message": "Validation Failed", "errors": invalid})
                    return
                site.github_blocks.add((number, blocker))
                self._answer(201, _github_issue(site, blocker))
            elif self.command == "DELETE" and by_id.get(blocker_id or "") in blockers:
                site.github_blocks.discard((number, by_id[blocker_id or ""]))
                self._answer(200, _github_issue(site, number))
            else:
                self._answer(404, {"message": "Not Found"})

        def log_message(self, *args: Any) -> None:
            pass

    with serving(server, Handler):
        yield site
