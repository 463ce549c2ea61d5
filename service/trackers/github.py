"""GitHub's REST API for one repository's issues: create and update them (bodies as the github_json export writes
them), read them."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx

from service.backlog.exporters import ExportItem, to_github_json
from service.core.enums import TrackerKind
from service.trackers.http import PAGE, TIMEOUT_S, Http, Sent, TrackerError, fail


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
        body = to_github_json([item])[0]  # open: a closed item is never created (service.push_item)
        response = self.http.call("POST", f"/repos/{self.repo}/issues", body, once=True)
        if response.status_code >= 300:
            raise fail(self.name, "create the issue", response)
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
                raise fail(self.name, f"list the issues of {self.repo}", found)
            issues = found.json()
            yield [issue for issue in issues if not issue.get("pull_request")]
            if len(issues) < PAGE:
                return
            page += 1

    def _patch(self, number: int, body: dict[str, Any]) -> None:
        response = self.http.call("PATCH", f"/repos/{self.repo}/issues/{number}", body)
        if response.status_code >= 300:
            raise fail(self.name, f"update {self.repo}#{number}", response)

    def close(self) -> None:
        self.http.close()
