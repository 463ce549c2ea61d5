"""GitHub's REST API for one repository's issues: create and update them (bodies as the github_json export writes
them), read them."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

import httpx

from service.backlog.exporters import ExportItem, to_github_json
from service.backlog.importers import github_key
from service.core.enums import TrackerKind
from service.trackers.http import CLOCK_SKEW, PAGE, TIMEOUT_S, Http, Sent, TrackerError, detail, fail, same_title


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
            raise fail(self.name, f"find the repository {self.repo}", found)
        repo = found.json()
        said = f"GitHub repository {repo.get('full_name', self.repo)}"
        if repo.get("has_issues") is False:
            raise TrackerError(f"{said} has issues turned off: turn them on in its settings")
        if (repo.get("permissions") or {}).get("push") is False:
            said += " (the token may not be able to add labels: it has no write access)"
        return said

    def create(self, item: ExportItem) -> Sent:
        """A new issue; a child is made a sub-issue of its parent (GitHub's own parent link), or sent without it, said,
        where the repository's GitHub has no sub-issues."""
        body = to_github_json([item])[0]  # open: a closed item is never created (service.push_item)
        response = self.http.call("POST", f"/repos/{self.repo}/issues", body, once=True)
        if response.status_code >= 300:
            raise fail(self.name, "create the issue", response)
        made = response.json()
        sent = Sent(f"{self.repo}#{made['number']}")
        if item.parent:
            self._adopt(item.parent, made, sent)
        return sent

    def _adopt(self, parent: str, issue: dict[str, Any], sent: Sent) -> None:
        """Make `issue` a sub-issue of `parent`, in place of a parent it has; said, and dropped, where GitHub
        refuses."""
        path = f"/repos/{self.repo}/issues/{_number(parent)}/sub_issues"
        adopted = self.http.call("POST", path, {"sub_issue_id": issue["id"], "replace_parent": True})
        if adopted.status_code >= 300:
            sent.warnings.append(f"GitHub did not make it a sub-issue of {parent} ({detail(adopted)})")
            sent.dropped.append("parent")

    def _move(self, key: str, parent: str | None, sent: Sent) -> None:
        """Put the issue under `parent` (a sub-issue), or under none: it is read first for its id and parent."""
        found = self.http.call("GET", f"/repos/{self.repo}/issues/{_number(key)}")
        if found.status_code != 200:
            raise fail(self.name, f"read {key}", found)
        issue = found.json()
        if parent:
            self._adopt(parent, issue, sent)
            return
        above = github_key({"url": issue["parent_issue_url"]}) if issue.get("parent_issue_url") else None
        if above is None:
            return
        repo, number = above.removeprefix("github:").rsplit("#", 1)
        gone = self.http.call("DELETE", f"/repos/{repo}/issues/{number}/sub_issue", {"sub_issue_id": issue["id"]})
        if gone.status_code >= 300 and gone.status_code != 404:
            sent.warnings.append(f"GitHub did not take it out of {repo}#{number} ({detail(gone)})")
            sent.dropped.append("parent")

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
            self._patch(_number(key), body)
        sent = Sent(key)
        if "parent" in changed:
            self._move(key, item.parent, sent)
        return sent

    def comment(self, key: str, text: str) -> str:
        """Post a comment on the issue `key` (owner/repo#12); its id."""
        made = self.http.call("POST", f"/repos/{self.repo}/issues/{_number(key)}/comments", {"body": text}, once=True)
        if made.status_code >= 300:
            raise fail(self.name, f"comment on {key}", made)
        return str(made.json()["id"])

    def edit_comment(self, key: str, comment_id: str, text: str) -> None:
        """Change the comment `comment_id` (on the issue `key`) to `text`."""
        path = f"/repos/{self.repo}/issues/comments/{comment_id}"
        self.http.done("PATCH", path, f"update comment {comment_id} on {key}", {"body": text})

    def delete_comment(self, key: str, comment_id: str) -> None:
        """Delete the comment `comment_id` (on the issue `key`)."""
        self.http.done(
            "DELETE", f"/repos/{self.repo}/issues/comments/{comment_id}", f"delete comment {comment_id} on {key}"
        )

    def blockers(self, key: str) -> dict[str, str]:
        """The issues `key` is blocked by (GitHub's issue dependencies), with their database ids."""
        return {github_key(issue) or "": str(issue["id"]) for issue in self._blocked_by(_number(key))}

    def _blocked_by(self, number: int) -> list[dict[str, Any]]:
        path = f"/repos/{self.repo}/issues/{number}/dependencies/blocked_by?per_page={PAGE}"
        found = self.http.call("GET", path)
        if found.status_code != 200:
            raise fail(self.name, f"read what {self.repo}#{number} is blocked by", found)
        return list(found.json())

    def block(self, key: str, blocker: str) -> None:
        """Mark `key` as blocked by `blocker`: GitHub names the blocker by its database id, read first."""
        repo, number = blocker.removeprefix("github:").rsplit("#", 1)
        issue = self.http.call("GET", f"/repos/{repo}/issues/{number}")
        if issue.status_code != 200:
            raise fail(self.name, f"find {repo}#{number}", issue)
        path = f"/repos/{self.repo}/issues/{_number(key)}/dependencies/blocked_by"
        made = self.http.call("POST", path, {"issue_id": issue.json()["id"]}, once=True)
        if made.status_code >= 300:
            raise fail(self.name, f"mark {key} as blocked by {repo}#{number}", made)

    def unblock(self, key: str, link: str) -> None:
        path = f"/repos/{self.repo}/issues/{_number(key)}/dependencies/blocked_by/{link}"
        gone = self.http.call("DELETE", path)
        if gone.status_code >= 300 and gone.status_code != 404:
            raise fail(self.name, f"remove a dependency of {key}", gone)

    def issues(self, since: datetime | None = None) -> Iterator[list[dict[str, Any]]]:
        """The repository's issues, open and closed, a page at a time; pull requests left out; with `since`, those
        updated since then (a comment counts) and their comments written or edited since. An issue blocked by others
        gets them as `blocked_by` (a call each, only for those: the list gives their count alone). Comments are read
        first, the whole repository's in one listing (100 a call, pull requests' too), not a call an issue, and each
        issue that counts some gets its own as `refinery_comments`."""
        changed = {"since": (since - CLOCK_SKEW).isoformat()} if since else {}
        said = self._all_comments(changed)
        page = 1
        while True:
            query = {"state": "all", "per_page": PAGE, "page": page} | changed
            found = self.http.call("GET", f"/repos/{self.repo}/issues?" + urlencode(query))
            if found.status_code != 200:
                raise fail(self.name, f"list the issues of {self.repo}", found)
            issues = found.json()
            mine = [issue for issue in issues if not issue.get("pull_request")]
            for issue in mine:
                if issue.get("comments"):
                    issue["refinery_comments"] = said.get(issue["number"], [])
                    issue["refinery_comments_partial"] = since is not None  # only those changed since: not whole
            yield [self._with_blockers(issue) for issue in mine]
            if len(issues) < PAGE:
                return
            page += 1

    def _all_comments(self, changed: dict[str, str]) -> dict[int, list[dict[str, Any]]]:
        """Every issue comment of the repository (`GET /repos/{repo}/issues/comments`, oldest first; `changed`: those
        updated since), by its issue's number."""
        by_issue: dict[int, list[dict[str, Any]]] = {}
        page = 1
        while True:
            path = f"/repos/{self.repo}/issues/comments?" + urlencode({"per_page": PAGE, "page": page} | changed)
            found = self.http.done("GET", path, f"list the comments of {self.repo}").json()
            for comment in found:
                number = str(comment.get("issue_url") or "").rstrip("/").rpartition("/")[2]
                if number.isdigit():
                    by_issue.setdefault(int(number), []).append(comment)
            if len(found) < PAGE:
                return by_issue
            page += 1

    def made_since(self, title: str, since: datetime) -> list[str]:
        """The repository's issues titled `title` created since `since`: the newest 100 updated since then."""
        start = since - CLOCK_SKEW
        query = {"state": "all", "since": start.isoformat(), "sort": "created", "direction": "desc", "per_page": PAGE}
        found = self.http.call("GET", f"/repos/{self.repo}/issues?" + urlencode(query))
        if found.status_code != 200:
            raise fail(self.name, f"list the new issues of {self.repo}", found)
        return [
            f"{self.repo}#{issue['number']}" for issue in found.json()
            if not issue.get("pull_request") and same_title(str(issue.get("title") or ""), title)
            and datetime.fromisoformat(str(issue.get("created_at") or "1970-01-01T00:00:00Z")) >= start
        ]  # fmt: skip

    def issue(self, key: str) -> dict[str, Any] | None:
        """One issue as the list gives it; None when it is not there (deleted, transferred), or is a pull request."""
        found = self.http.call("GET", f"/repos/{self.repo}/issues/{_number(key)}")
        if found.status_code in (301, 404, 410):  # 301: transferred to another repository
            return None
        if found.status_code != 200:
            raise fail(self.name, f"read {key}", found)
        issue = found.json()
        return None if issue.get("pull_request") else self._with_comments(self._with_blockers(issue))

    def _with_blockers(self, issue: dict[str, Any]) -> dict[str, Any]:
        """The issue with the issues it is blocked by as `blocked_by` (read only when its summary counts some)."""
        if (issue.get("issue_dependencies_summary") or {}).get("total_blocked_by"):
            issue["blocked_by"] = self._blocked_by(issue["number"])
        return issue

    def _with_comments(self, issue: dict[str, Any]) -> dict[str, Any]:
        """The issue with its comments as `refinery_comments` (read only when it counts some: a call a page)."""
        if not issue.get("comments"):
            return issue
        issue["refinery_comments"], page = [], 1
        while True:
            path = f"/repos/{self.repo}/issues/{issue['number']}/comments?per_page={PAGE}&page={page}"
            found = self.http.done("GET", path, f"read the comments of {self.repo}#{issue['number']}").json()
            issue["refinery_comments"] += found
            if len(found) < PAGE:
                return issue
            page += 1

    def _patch(self, number: int, body: dict[str, Any]) -> None:
        response = self.http.call("PATCH", f"/repos/{self.repo}/issues/{number}", body)
        if response.status_code >= 300:
            raise fail(self.name, f"update {self.repo}#{number}", response)

    def rank(self, keys: list[str]) -> list[str]:
        """GitHub's issues have no order of their own (a Project's views sort them): nothing to send."""
        return ["GitHub issues have no order to set (a Project's view sorts them): the backlog's order is not sent"]

    def close(self) -> None:
        self.http.close()


def _number(key: str) -> int:
    """The issue number of a key (owner/repo#12)."""
    return int(key.rsplit("#", 1)[1])
