"""Jira's REST API: create and update issues (bodies as the jira_json export writes them), move them through the
workflow, link them, read a project's issues. Jira Cloud takes REST v3 (descriptions in ADF, the enhanced search);
Jira Data Center REST v2 (descriptions in wiki markup, the paged search, a personal access token or a user and
password)."""

from __future__ import annotations

import math
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

import httpx

from service.backlog.exporters import STORY_POINTS_FIELD, ExportItem, adf_document, to_jira_json
from service.backlog.importers import jira_blocked_by
from service.core.enums import TrackerKind
from service.trackers.http import (
    CLOCK_SKEW,
    PAGE,
    TIMEOUT_S,
    Http,
    Refused,
    Sent,
    TrackerError,
    fail,
    same_title,
)

FALLBACK_ISSUE_TYPE = "Task"  # every Jira project template has it; "Story" and "Bug" are not everywhere
BLOCKS = "Blocks"  # the link type every Jira Cloud site starts with: "blocks" outward, "is blocked by" inward
HIERARCHY = (
    "; Jira takes a story, task or bug only under an Epic: make the parent an Epic there and put the issue under it "
    "in Jira, and a pull brings the link back"
)  # what to do when Jira refuses a parent
EPIC_LINK = "com.pyxis.greenhopper.jira:gh-epic-link"  # Data Center's Epic Link field, by its type (its id differs)
EPIC_NAME = "com.pyxis.greenhopper.jira:gh-epic-label"  # Data Center's Epic Name field, which an Epic must have
RANKED_AT_ONCE = 50  # issues Jira ranks in one call


class Jira:
    """Jira Cloud (REST v3, an account's email and API token, basic auth) or, with `data_center`, Jira Data Center
    (REST v2; a personal access token as a bearer token when no user is given, else the user and password)."""

    kind = TrackerKind.jira
    import_format = "jira_json"

    def __init__(
        self, url: str, project: str, user: str | None, token: str, points_field: str | None = None,
        data_center: bool = False,
    ) -> None:  # fmt: skip
        bearer = data_center and not user
        client = httpx.Client(
            base_url=url.rstrip("/") + ("/rest/api/2" if data_center else "/rest/api/3"), timeout=TIMEOUT_S,
            auth=None if bearer else (user or "", token),
            headers={"Accept": "application/json"} | ({"Authorization": f"Bearer {token}"} if bearer else {}),
        )  # fmt: skip
        self.data_center, self.name = data_center, "Jira Data Center" if data_center else "Jira"
        self.rank_url = url.rstrip("/") + "/rest/agile/1.0/issue/rank"  # Jira Software's, on Cloud and Data Center
        self.http, self.project = Http(client, self.name), project
        self.points_field = points_field or STORY_POINTS_FIELD
        self._epic: dict[str, str] | None = None  # Data Center: the Epic Link and Epic Name fields' ids, read once

    def check(self) -> str:
        me = self.http.call("GET", "/myself")
        if me.status_code != 200:
            raise fail(self.name, "say who the token belongs to", me)
        project = self.http.call("GET", f"/project/{self.project}")
        if project.status_code != 200:
            raise fail(self.name, f"find project {self.project}", project)
        said = f"signed in to {self.name} as {me.json().get('displayName', '?')}; project {self.project}: " + str(
            project.json().get("name", "?")
        )
        if self.data_center:
            link = self.epic_fields().get("link")
            said += f"; epics by {link}" if link else "; no Epic Link field (Jira Software?): children go without epic"
        return said

    def epic_fields(self) -> dict[str, str]:
        """Data Center (Jira Software): the ids of its Epic Link field (`link`: an issue's epic, by key, where Cloud
        has `parent`) and Epic Name field (`name`, which an Epic must have there), found among the site's fields;
        empty on Cloud, or on a site without Jira Software."""
        if self._epic is None:
            self._epic = {}
            if self.data_center:
                found = self.http.call("GET", "/field")
                if found.status_code != 200:
                    raise fail(self.name, "list the fields", found)
                for given in found.json():
                    kind = str((given.get("schema") or {}).get("custom") or "")
                    for name, custom in (("link", EPIC_LINK), ("name", EPIC_NAME)):
                        if kind == custom:
                            self._epic[name] = str(given["id"])
        return self._epic

    def _fields(self, item: ExportItem) -> dict[str, Any]:
        fields = to_jira_json([item], wiki=self.data_center)[0]["fields"]
        if STORY_POINTS_FIELD in fields and self.points_field != STORY_POINTS_FIELD:
            fields[self.points_field] = fields.pop(STORY_POINTS_FIELD)
        epic = self.epic_fields()
        if "link" in epic and "parent" in fields:  # Data Center: a story names its epic by its Epic Link field
            fields[epic["link"]] = fields.pop("parent")["key"]
        if "name" in epic and fields["issuetype"]["name"] == "Epic":
            fields[epic["name"]] = fields["summary"]
        return fields

    def _parent_field(self) -> str:
        """Where an issue's parent goes: `parent` (Cloud), or Data Center's Epic Link field."""
        return self.epic_fields().get("link", "parent")

    def _optional(self) -> dict[str, str]:
        """The fields an issue is still worth sending without (Jira field -> what to call it): an Epic Name too, which
        a Task (an Epic the project lacks) cannot have."""
        optional = {"priority": "priority", "labels": "labels", self.points_field: "story points",
                    self._parent_field(): "parent"}  # fmt: skip
        if "name" in self.epic_fields():
            optional[self.epic_fields()["name"]] = "epic name"
        return optional

    def _ours(self) -> dict[str, str]:
        """The item's field each Jira field carries (the Epic Name, its title, as a field of its own)."""
        ours = {"priority": "priority", "labels": "labels", self.points_field: "story_points",
                self._parent_field(): "parent", "issuetype": "item_type"}  # fmt: skip
        if "name" in self.epic_fields():
            ours[self.epic_fields()["name"]] = "epic_name"
        return ours

    def _send(self, method: str, path: str, fields: dict[str, Any], what: str) -> tuple[httpx.Response, Sent]:
        """Send `fields`; where Jira refuses only fields an issue can do without (a priority its scheme lacks, a
        story points field not on the screen, an issue type the project lacks), send again without them (the type
        as Task), once, and say so. The Sent has no key yet."""
        sent = Sent("")
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
                    fields.pop(self.epic_fields().get("name", ""), None)  # a Task has no Epic Name
                    sent.warnings.append(f"Jira has no issue type {was} here ({said}): sent as {FALLBACK_ISSUE_TYPE}")
                else:
                    fields.pop(name, None)
                    epic = (fields.get("issuetype") or {}).get("name") == "Epic"  # an update sends no type
                    linkless = self.data_center and "link" not in self.epic_fields()  # no Jira Software: no epics
                    hint = HIERARCHY if optional[name] == "parent" and not epic and not linkless else ""
                    sent.warnings.append(f"Jira did not take the {optional[name]} ({said}): sent without it{hint}")
                sent.dropped.append(self._ours()[name])
        if response.status_code >= 300:
            raise fail(self.name, what, response)
        return response, sent

    def create(self, item: ExportItem) -> Sent:
        fields = {"project": {"key": self.project}, **self._fields(item)}
        response, sent = self._send("POST", "/issue", fields, "create the issue")  # open, as a new item is
        sent.key = str(response.json()["key"])
        return sent

    def update(self, key: str, item: ExportItem, changed: list[str]) -> Sent:
        full = self._fields(item)
        wanted = {
            "title": ["summary"], "description": ["description"], "item_type": ["issuetype"], "labels": ["labels"],
            "priority": ["priority"], "story_points": [self.points_field], "parent": [self._parent_field()],
        }  # fmt: skip
        names = {name for field_name in changed for name in wanted.get(field_name, [])}
        kept = item.children and "issuetype" in names  # an epic keeps its type there: Epic, or what it was sent as
        fields = {name: full.get(name) for name in names - ({"issuetype"} if kept else set())}  # none: cleared
        sent = Sent(key)
        if fields:
            sent = self._send("PUT", f"/issue/{key}", fields, f"update {key}")[1]
            sent.key = key
        if kept:
            sent.warnings.append(f"{key} has child issues: its type is not changed in {self.name}")
            sent.dropped.append("item_type")
        if "closed" in changed:
            sent.warnings += self._transition(key, done=item.closed)
        return sent

    def rank(self, keys: list[str]) -> list[str]:
        """Put the issues `keys` in this order at the top of Jira's rank (the backlog's order there): the first before
        the project's first issue, then each block of up to 50 just after the issue before it, as Jira Software's rank
        API takes them; the project's other issues follow in their own order. What Jira refused, said (a 207 names
        each issue it did not move); a site without Jira Software has no rank to set."""
        try:
            top = next((str(i["key"]) for page in self._search(self._by_rank, "summary") for i in page[:1]), None)
        except Refused:
            raise
        except TrackerError as exc:  # a site without Jira Software has no Rank field to order by
            return [f"{self.name} has no rank to set here ({exc}): order not sent"]
        said: list[str] = []
        if top is not None and top != keys[0]:  # the first goes to the top of the project's backlog, the rest after it
            said += self._rank({"issues": keys[:1], "rankBeforeIssue": top})
        for start in range(1, len(keys), RANKED_AT_ONCE):
            said += self._rank({"issues": keys[start : start + RANKED_AT_ONCE], "rankAfterIssue": keys[start - 1]})
        return said

    def _rank(self, body: dict[str, Any]) -> list[str]:
        """One call of the rank API; what it did not do, said (a refused credential still stops the push)."""
        issues, anchor = body["issues"], body.get("rankAfterIssue") or body.get("rankBeforeIssue")
        try:
            answer = self.http.call("PUT", self.rank_url, body)
            if answer.status_code == 207:  # some moved, some not: an entry each
                refused = [e for e in answer.json().get("entries") or [] if (e.get("status") or 200) >= 300]
                return [
                    f"{self.name} did not rank {e.get('issueKey')}: {'; '.join(e.get('errors') or []) or e['status']}"
                    for e in refused
                ]
            if answer.status_code >= 300:
                raise fail(self.name, f"rank {issues[0]}..{issues[-1]} by {anchor}", answer)
        except Refused:
            raise
        except TrackerError as exc:
            return [str(exc)]
        return []

    @property
    def _by_rank(self) -> str:
        return f'project = "{self.project}" ORDER BY Rank ASC'

    def comment(self, key: str, text: str) -> str:
        """Post a comment on `key` (Cloud: its body in ADF; Data Center: wiki markup, here plain text); its id."""
        body = text if self.data_center else adf_document(text)
        made = self.http.call("POST", f"/issue/{key}/comment", {"body": body}, once=True)
        if made.status_code >= 300:
            raise fail(self.name, f"comment on {key}", made)
        return str(made.json()["id"])

    def edit_comment(self, key: str, comment_id: str, text: str) -> None:
        """Change the comment `comment_id` on `key` to `text` (a PUT: sending it twice does no harm)."""
        body = text if self.data_center else adf_document(text)
        self.http.done(
            "PUT", f"/issue/{key}/comment/{comment_id}", f"update comment {comment_id} on {key}", {"body": body}
        )

    def delete_comment(self, key: str, comment_id: str) -> None:
        """Delete the comment `comment_id` on `key`."""
        self.http.done("DELETE", f"/issue/{key}/comment/{comment_id}", f"delete comment {comment_id} on {key}")

    def blockers(self, key: str) -> dict[str, str]:
        """The issues `key` is blocked by, read as a pull reads them (Atlassian's issue linking model)."""
        found = self.http.call("GET", f"/issue/{key}?fields=issuelinks")
        if found.status_code != 200:
            raise fail(self.name, f"read the links of {key}", found)
        return jira_blocked_by((found.json().get("fields") or {}).get("issuelinks") or [])

    def block(self, key: str, blocker: str) -> None:
        """A Blocks link from `blocker` to `key`. Creating one, Jira takes the blocker as `inwardIssue`, the reverse of
        what the names suggest (as teams who checked it on Jira Cloud report: mozilla/jira-bugzilla-integration#1285,
        atlassian/atlassian-mcp-server#112); read back, `key` then lists the blocker as its `inwardIssue`."""
        body = {"type": {"name": BLOCKS}, "inwardIssue": {"key": blocker.removeprefix("jira:")},
                "outwardIssue": {"key": key}}  # fmt: skip
        made = self.http.call("POST", "/issueLink", body, once=True)
        if made.status_code >= 300:
            raise fail(self.name, f"link {key} as blocked by {blocker.removeprefix('jira:')}", made)

    def unblock(self, key: str, link: str) -> None:
        gone = self.http.call("DELETE", f"/issueLink/{link}")
        if gone.status_code >= 300 and gone.status_code != 404:
            raise fail(self.name, f"remove a link of {key}", gone)

    def _read(self) -> str:
        """The fields the jira_json import reads (and Data Center's Epic Link, read as the parent)."""
        read = (
            "summary,issuetype,priority,labels,description,status,resolution,parent,issuelinks,comment,"
            f"{self.points_field}"
        )
        link = self.epic_fields().get("link")
        return f"{read},{link}" if link else read

    def _as_read(self, issue: dict[str, Any]) -> dict[str, Any]:
        """An issue as the jira_json import reads it: on Data Center, its Epic Link's key as its `parent`; all its
        comments (a search gives the first ones, and how many there are: the rest are read, a call a page)."""
        fields = issue.get("fields") or {}
        link = self.epic_fields().get("link")
        if link and isinstance(fields.get(link), str) and not fields.get("parent"):
            fields["parent"] = {"key": fields[link]}
        thread = fields.get("comment") if isinstance(fields.get("comment"), dict) else None
        while thread and len(thread.get("comments") or []) < int(thread.get("total") or 0):
            start = len(thread.get("comments") or [])
            path = f"/issue/{issue['key']}/comment?startAt={start}&maxResults={PAGE}"
            more = self.http.done("GET", path, f"read the comments of {issue['key']}").json().get("comments") or []
            thread["comments"] = [*(thread.get("comments") or []), *more]
            if not more:
                break
        return issue

    def issue(self, key: str) -> dict[str, Any] | None:
        """One issue as the search gives it; None when it is not there (deleted, or moved to another project)."""
        found = self.http.call("GET", f"/issue/{key}?" + urlencode({"fields": self._read()}))
        if found.status_code == 404:
            return None
        if found.status_code != 200:
            raise fail(self.name, f"read {key}", found)
        issue = found.json()
        return self._as_read(issue) if str(issue.get("key", "")).startswith(f"{self.project}-") else None

    def issues(self, since: datetime | None = None) -> Iterator[list[dict[str, Any]]]:
        """The project's issues, a page at a time; with `since`, those updated since then (a field changed or a
        comment written moves an issue's update time)."""
        changed = f' AND updated >= "-{_minutes_ago(since)}m"' if since else ""
        for page in self._search(f'project = "{self.project}"{changed} ORDER BY key ASC', self._read()):
            yield [self._as_read(issue) for issue in page]

    def made_since(self, title: str, since: datetime) -> list[str]:
        """The keys of the project's issues titled `title` created since `since`."""
        jql = f'project = "{self.project}" AND created >= "-{_minutes_ago(since)}m" ORDER BY created DESC'
        found = (issue for page in self._search(jql, "summary") for issue in page)
        return [str(i["key"]) for i in found if same_title(str((i.get("fields") or {}).get("summary") or ""), title)]

    def _search(self, jql: str, fields: str) -> Iterator[list[dict[str, Any]]]:
        """The issues `jql` finds, a page at a time (Cloud's enhanced search, `nextPageToken`; Data Center's search,
        `startAt`)."""
        params: dict[str, Any] = {"jql": jql, "fields": fields, "maxResults": PAGE}
        if self.data_center:
            yield from self._pages(params)
            return
        while True:
            found = self.http.call("GET", "/search/jql?" + urlencode(params))
            if found.status_code != 200:
                raise fail(self.name, f"list the issues of {self.project}", found)
            page = found.json()
            yield page.get("issues") or []
            if page.get("isLast", True) or not page.get("nextPageToken"):
                return
            params["nextPageToken"] = page["nextPageToken"]

    def _pages(self, params: dict[str, Any]) -> Iterator[list[dict[str, Any]]]:
        """Data Center's search (`GET /search`), `startAt` by `startAt`, until `total` issues were read."""
        start = 0
        while True:
            found = self.http.call("GET", "/search?" + urlencode(params | {"startAt": start}))
            if found.status_code != 200:
                raise fail(self.name, f"list the issues of {self.project}", found)
            page = found.json()
            issues = page.get("issues") or []
            yield issues
            start += len(issues)
            if not issues or start >= int(page.get("total") or 0):
                return

    def _transition(self, key: str, done: bool) -> list[str]:
        """Move the issue to a status of the Done category (or back to To Do); a warning when its workflow has no
        such transition from where it is."""
        wanted = ("done",) if done else ("new", "indeterminate")
        found = self.http.call("GET", f"/issue/{key}/transitions")
        if found.status_code != 200:
            raise fail(self.name, f"list the transitions of {key}", found)
        for category in wanted:
            for transition in found.json().get("transitions", []):
                if transition.get("to", {}).get("statusCategory", {}).get("key") == category:
                    body = {"transition": {"id": transition["id"]}}
                    moved = self.http.call("POST", f"/issue/{key}/transitions", body)
                    if moved.status_code >= 300:
                        raise fail(self.name, f"move {key} to {transition['to'].get('name')}", moved)
                    return []
        to = "done" if done else "to do"
        return [f"{key}'s workflow has no transition to {to} from its status: change it in Jira"]

    def close(self) -> None:
        self.http.close()


def _minutes_ago(since: datetime) -> int:
    """`since` as minutes before now, and the clocks' skew (a JQL date would be read in the token's user's time
    zone)."""
    return math.ceil((datetime.now(UTC) - since + CLOCK_SKEW).total_seconds() / 60)
