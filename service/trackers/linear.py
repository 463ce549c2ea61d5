"""Linear's GraphQL API for one team: create and update issues (as the linear_json export writes them, with its
stable ids), labels and states by name, read the team's issues."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

import httpx

from service.backlog.exporters import ExportItem, to_linear_json
from service.core.enums import TrackerKind
from service.trackers.http import (
    ATTEMPTS,
    CLOCK_SKEW,
    PAGE,
    TIMEOUT_S,
    Gone,
    Http,
    Refused,
    Sent,
    TrackerError,
    detail,
    wait_s,
)

LINEAR_REFUSED = frozenset({"authentication_error", "forbidden"})
NEXT = "pageInfo { hasNextPage endCursor }"
LISTS = {  # an issue's lists that come a page at a time (Linear's: 50 unless asked), each with the fields read
    "relations": f"nodes {{ type relatedIssue {{ identifier }} }} {NEXT}",
    "inverseRelations": f"nodes {{ type issue {{ identifier }} }} {NEXT}",
    "comments": f"nodes {{ id body createdAt user {{ name }} }} {NEXT}",
}
READ = (
    "id identifier title description priority estimate labels { nodes { name } } parent { identifier } "
    "state { type name } " + " ".join(f"{name} {{ {fields} }}" for name, fields in LISTS.items())
)  # an issue's fields the linear_json import reads (its relations and comments, all: _whole)


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

    def _run(self, query: str, variables: dict[str, Any], what: str, once: bool = False) -> dict[str, Any]:
        """The query's `data`; GraphQL errors as TrackerError (Refused for credentials, Gone for an id Linear does not
        know), rate limits retried; `once` as `Http.call` has it."""
        for attempt in range(ATTEMPTS):
            response = self.http.call("POST", "/graphql", {"query": query, "variables": variables}, once=once)
            body = response.json() if "json" in response.headers.get("content-type", "") else {}
            errors = body.get("errors") or []
            kinds = {(e.get("extensions") or {}).get("type") for e in errors}
            if "ratelimited" in kinds and attempt < ATTEMPTS - 1:
                self.http.sleep(wait_s(response, attempt))
                continue
            said = "; ".join(
                str((e.get("extensions") or {}).get("userPresentableMessage") or e.get("message")) for e in errors
            )
            if kinds & LINEAR_REFUSED:
                raise Refused(f"Linear refused the request ({said}): check the API key and its team access")
            if errors or response.status_code >= 300 or not body.get("data"):
                gone = any(str(e.get("message") or "").startswith("Entity not found") for e in errors)
                failed = Gone if gone else TrackerError  # Linear's answer for an id it does not know
                raise failed(f"Linear did not {what} ({response.status_code}: {said or detail(response)})")
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
            issue["parentId"] = self._id(item.parent)
        return issue

    def _id(self, identifier: str) -> str:
        """The id of the issue `identifier` names (ENG-12)."""
        found = self._run("query Parent($id: String!) { issue(id: $id) { id } }", {"id": identifier},
                          f"find {identifier}")  # fmt: skip
        return str(found["issue"]["id"])

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
            self._update(found, {name: value for name, value in issue.items() if name not in ("id", "teamId")})
            return Sent(found, [*warnings, f"{found} was already made by an earlier try: not made again, updated"])
        return Sent(str(made["issueCreate"]["issue"]["identifier"]), warnings)

    def _existing(self, issue_id: str) -> str | None:
        try:
            found = self._run("query Issue($id: String!) { issue(id: $id) { identifier } }", {"id": issue_id}, "")
        except Refused:
            raise
        except TrackerError:
            return None
        return str(found["issue"]["identifier"]) if found.get("issue") else None

    def made_since(self, title: str, since: datetime) -> list[str]:
        """None to look for: a create sent again finds the issue the first one made by its id (`create`)."""
        return []

    def update(self, key: str, item: ExportItem, changed: list[str]) -> Sent:
        warnings: list[str] = []
        full = to_linear_json([item])[0]
        wanted = {"title": "title", "description": "description", "priority": "priority", "story_points": "estimate"}
        issue = {wanted[name]: full.get(wanted[name]) for name in changed if name in wanted}
        if {"labels", "item_type"} & set(changed):
            issue["labelIds"] = self._label_ids(full["labelNames"], warnings)
        if "parent" in changed:  # moved under another issue, or under none
            issue["parentId"] = self._id(item.parent) if item.parent else None
        if "closed" in changed:
            state = self._state_id(done=item.closed)
            if state is None:
                warnings.append(f"team {self.team_key} has no state to {'close' if item.closed else 'reopen'} it in")
            else:
                issue["stateId"] = state
        if issue:
            self._update(key, issue)
        return Sent(key, warnings)

    def _update(self, key: str, issue: dict[str, Any]) -> None:
        self._run(
            "mutation Update($id: String!, $input: IssueUpdateInput!) { issueUpdate(id: $id, input: $input) "
            "{ success } }",
            {"id": key, "input": issue}, f"update {key}",
        )  # fmt: skip

    def comment(self, key: str, text: str) -> str:
        """Post a comment (Markdown) on the issue `key` (ENG-12); its id."""
        made = self._run(
            "mutation Comment($input: CommentCreateInput!) { commentCreate(input: $input) { success comment { id } } }",
            {"input": {"issueId": self._id(key), "body": text}}, f"comment on {key}", once=True,
        )  # fmt: skip
        return str(made["commentCreate"]["comment"]["id"])

    def edit_comment(self, key: str, comment_id: str, text: str) -> None:
        """Change the comment `comment_id` (on the issue `key`) to `text` (Markdown)."""
        self._run(
            "mutation Edit($id: String!, $input: CommentUpdateInput!) { commentUpdate(id: $id, input: $input) "
            "{ success } }",
            {"id": comment_id, "input": {"body": text}}, f"update comment {comment_id} on {key}",
        )  # fmt: skip

    def delete_comment(self, key: str, comment_id: str) -> None:
        """Delete the comment `comment_id` (on the issue `key`)."""
        self._run("mutation Uncomment($id: String!) { commentDelete(id: $id) { success } }",
                  {"id": comment_id}, f"delete comment {comment_id} on {key}")  # fmt: skip

    def blockers(self, key: str) -> dict[str, str]:
        """The issues `key` is blocked by: the `blocks` relations of other issues to it, with their ids."""
        found = self._run(
            "query Blockers($id: String!) { issue(id: $id) { id inverseRelations(first: 250) { nodes { id type "
            "issue { identifier } } } } }",
            {"id": key}, f"read the relations of {key}",
        )["issue"]  # fmt: skip
        nodes = found["inverseRelations"]["nodes"]
        return {f"linear:{node['issue']['identifier']}": str(node["id"]) for node in nodes if node["type"] == "blocks"}

    def block(self, key: str, blocker: str) -> None:
        """A `blocks` relation from `blocker` to `key`, named by their ids (read first)."""
        other = blocker.removeprefix("linear:")
        ids = [self._id(name) for name in (other, key)]
        self._run(
            "mutation Relate($input: IssueRelationCreateInput!) { issueRelationCreate(input: $input) { success } }",
            {"input": {"type": "blocks", "issueId": ids[0], "relatedIssueId": ids[1]}},
            f"mark {key} as blocked by {other}", once=True,
        )  # fmt: skip

    def unblock(self, key: str, link: str) -> None:
        self._run(
            "mutation Unrelate($id: String!) { issueRelationDelete(id: $id) { success } }",
            {"id": link}, f"remove a relation of {key}",
        )  # fmt: skip

    def issue(self, key: str) -> dict[str, Any] | None:
        """One issue (by its identifier or id) as the team's list gives it; None when it is not there or is another
        team's."""
        try:
            found = self._run(f"query OneIssue($id: String!) {{ issue(id: $id) {{ {READ} team {{ key }} }} }}",
                              {"id": key}, f"read {key}")["issue"]  # fmt: skip
        except Refused:
            raise
        except TrackerError:
            return None  # Linear answers an unknown issue with an error, not a null
        if not found or (found.get("team") or {}).get("key") != self.team_key:
            return None
        return self._whole(found)

    def _whole(self, issue: dict[str, Any]) -> dict[str, Any]:
        """The issue with every relation and comment: the rest of a list longer than the page the issue came with is
        read, a page per call."""
        whole = dict(issue)
        for name, fields in LISTS.items():
            listed = issue.get(name) or {"nodes": []}
            while (listed.get("pageInfo") or {}).get("hasNextPage"):
                more = self._run(
                    "query More($id: String!, $after: String) { issue(id: $id) { "
                    f"{name}(first: {PAGE}, after: $after) {{ {fields} }} }} }}",
                    {"id": issue["id"], "after": listed["pageInfo"]["endCursor"]},
                    f"read the {name} of {issue.get('identifier')}",
                )["issue"][name]
                listed = {"nodes": [*listed["nodes"], *more["nodes"]], "pageInfo": more["pageInfo"]}
            whole[name] = listed
        return whole

    def issues(self, since: datetime | None = None, fields: str = READ) -> Iterator[list[dict[str, Any]]]:
        """The team's issues, a page at a time, with `fields` (default: what the `linear_json` import reads, blocks
        relations too); with `since`, those updated since then or with a comment written or edited since (a relation
        alone is not asked for: Linear's filter has no such field)."""
        wanted: dict[str, Any] = {"team": {"key": {"eq": self.team_key}}}
        if since:
            start = {"gte": (since - CLOCK_SKEW).isoformat()}
            wanted["or"] = [{"updatedAt": start}, {"comments": {"some": {"updatedAt": start}}}]
        after = None
        while True:
            found = self._run(
                "query Issues($filter: IssueFilter!, $after: String) { issues(filter: $filter, "
                f"first: {PAGE}, after: $after) {{ nodes {{ {fields} }} pageInfo {{ hasNextPage endCursor }} }} }}",
                {"filter": wanted, "after": after}, f"list the issues of team {self.team_key}",
            )["issues"]  # fmt: skip
            yield [self._whole(i) for i in found["nodes"]] if fields == READ else found["nodes"]
            if not found["pageInfo"]["hasNextPage"]:
                return
            after = found["pageInfo"]["endCursor"]

    def rank(self, keys: list[str]) -> list[str]:
        """Put the issues `keys` in this order at the top of the team's manual order: each issue's `sortOrder`, the
        lowest first (a value below another's puts the issue above it, as Linear's team answered in linear/linear#170),
        set just below the lowest any other issue of the team has, one update per issue. What Linear refused, said."""
        try:
            others = [float(i["sortOrder"]) for page in self.issues(fields="identifier sortOrder") for i in page
                      if i["identifier"] not in keys and i.get("sortOrder") is not None]  # fmt: skip
        except Refused:
            raise
        except TrackerError as exc:
            return [f"{self.name}'s order could not be read ({exc}): order not sent"]
        lowest = min(others, default=0.0)
        said = []
        for place, key in enumerate(keys):
            try:
                self._update(key, {"sortOrder": lowest - len(keys) + place})
            except Refused:
                raise
            except TrackerError as exc:
                said.append(str(exc))
        return said

    def close(self) -> None:
        self.http.close()
