"""The review desk in a real browser: Debian's headless Chromium driven by Playwright, against a real HTTP server
(uvicorn) running the app with the fake LLM, the real embedding model and an embedded Chroma."""

from __future__ import annotations

import csv
import hashlib
import hmac
import io
import json
import re
import shutil
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page, Route, expect, sync_playwright

from pipelines.llm import LLM, fake_llm
from service.api import create_app
from service.core.settings import Settings
from tests.conftest import story_json
from tests.live_server import live_server

# Flags for a machine with no network beyond loopback: no background fetches, no sandbox (CI runs as root).
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync",
]  # fmt: skip
TIMEOUT_MS = 60_000  # the first draft loads the embedding model
expect.set_options(timeout=TIMEOUT_MS)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    assert chromium, "browser tests need Debian's chromium package (scripts/setup.sh --dev installs it as root)"
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture
def llm(request: pytest.FixtureRequest) -> LLM:
    """The fake LLM; a test can ask for a slow one or one with few slots by parametrizing `llm` indirectly."""
    return fake_llm(**getattr(request, "param", {}))


@pytest.fixture
def desk(tmp_path: Path, llm: LLM) -> Iterator[str]:
    settings = Settings(REFINERY_DATA_DIR=tmp_path, REFINERY_LLM_PROVIDER="fake", OPENAI_API_KEY=None)
    app = create_app(settings, llm)
    with live_server(app) as url:
        yield url
    app.state.runtime.db.engine.dispose()


@pytest.fixture
def page(browser: Browser, desk: str) -> Iterator[Page]:
    context = browser.new_context(base_url=desk)
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    yield page
    context.close()
    assert errors == [], f"JavaScript errors on the page: {errors}"


def visit(page: Page, path: str) -> None:
    """Opens `path` and waits until the desk has wired its forms and shortcuts (it marks `body[data-ready]`)."""
    page.goto(path)
    page.wait_for_selector("body[data-ready]", state="attached")


def learned_then_reset(page: Page, tab: str, line_id: str, learned: str, after_reset: str) -> None:
    """The tab's "learned from review" line says `learned`; its reset button (confirmed) makes it say `after_reset`."""
    page.click(f"nav a[data-tab={tab}]")
    line = page.locator(f"#{line_id}")
    expect(line).to_contain_text(learned)
    page.once("dialog", lambda dialog: dialog.accept())
    line.get_by_role("button", name="Reset what was learned").click()
    expect(line).to_contain_text(after_reset)


def draft_idea(page: Page, text: str) -> None:
    visit(page, "/#draft")
    page.fill("#idea-text", text)
    page.click("#draft-submit")
    expect(page.locator("#story-form")).to_be_visible()


def test_paste_draft_edit_a_criterion_accept_then_backlog_and_export_have_it(page: Page, llm: LLM, desk: str):
    llm.chat.replies.append(story_json())
    visit(page, "/")
    page.fill("#reviewer", "pat@example.com")
    page.press("#reviewer", "Tab")  # change event: the name is kept for the X-User header
    draft_idea(page, "customers keep asking to filter search results by price")
    expect(page.locator("#detail h2")).to_contain_text("pending")
    expect(page.locator("#detail .provenance")).to_contain_text("prompt draft_story@")
    expect(page.locator("#input-text")).to_have_text("customers keep asking to filter search results by price")
    assert page.input_value("#story-form [name=title]") == "Filter search results by price"
    # edit the second criterion's outcome, one field of one criterion
    second_then = page.locator("#criteria .criterion").nth(1).locator("[name=then]")
    second_then.fill("all 400 results are shown again, sorted as before")
    page.fill("#story-form [name=labels]", "search, filters")
    page.click("#accept")
    expect(page.locator("#flash")).to_contain_text("Accepted #1 with your edits")

    page.click("nav a[data-tab=backlog]")
    expect(page.locator("#backlog .item-title")).to_have_text(["Filter search results by price"])
    page.locator("#backlog .item-title").click()
    expect(page.locator("#backlog .description")).to_contain_text("all 400 results are shown again, sorted as before")

    href = page.get_attribute("a.export[href*=jira_csv]", "href")
    exported = page.request.get(href)
    assert exported.ok
    rows = list(csv.DictReader(io.StringIO(exported.text())))
    assert [r["Summary"] for r in rows] == ["Filter search results by price"]
    assert "all 400 results are shown again, sorted as before" in rows[0]["Description"]
    jira = json.loads(page.request.get(page.get_attribute("a.export[href*=jira_json]", "href")).text())
    assert "all 400 results are shown again" in json.dumps(jira)

    history = httpx.get(f"{desk}/v1/suggestions/1/history", timeout=120).json()
    assert [e["action"] for e in history] == ["created", "accepted_with_edits"]
    assert history[1]["actor"] == "pat@example.com"
    assert history[1]["after"]["labels"] == ["search", "filters"]
    assert history[1]["before"]["acceptance_criteria"][1]["then"] == "all results are shown again"
    # the edit is now an example for the next drafts; the draft tab says so and an admin can reset it
    learned_then_reset(
        page, "draft", "draft-learning", "Drafts follow your team's 1 latest accepted edits (#1 Filter search",
        "Drafts use the built-in examples",
    )  # fmt: skip


def test_a_decision_is_undone_from_its_message_by_key_or_from_the_decided_suggestion(page: Page, llm: LLM, desk: str):
    llm.chat.replies.extend([story_json(title="Filter search results by price"), story_json(title="Dark mode")])
    for text in ("filter search results by price please", "a dark mode for night owls"):
        assert httpx.post(f"{desk}/v1/drafts", json={"text": text}, timeout=120).status_code == 201
    visit(page, "/#review")
    page.locator("#queue li", has_text="Filter search results by price").click()
    page.click("#accept")
    expect(page.locator("#flash")).to_contain_text("Accepted #1.")
    assert len(httpx.get(f"{desk}/v1/backlog", timeout=60).json()) == 1
    page.click("#flash button.undo")  # the item it became is gone, the draft is pending and shown again
    expect(page.locator("#flash")).to_contain_text("Undone: #1 is pending again.")
    expect(page.locator("#detail h2")).to_contain_text("#1 pending")
    assert httpx.get(f"{desk}/v1/backlog", timeout=60).json() == []
    page.locator("#queue li", has_text="Dark mode").click()
    page.keyboard.press("r")
    page.keyboard.type("not this quarter")
    page.keyboard.press("Enter")
    expect(page.locator("#flash")).to_contain_text("Rejected #2.")
    expect(page.locator("#queue li")).to_have_count(1)
    page.keyboard.press("u")  # the last decision
    expect(page.locator("#flash")).to_contain_text("Undone: #2 is pending again.")
    expect(page.locator("#queue li")).to_have_count(2)
    page.keyboard.press("a")  # #2, shown again, accepted
    expect(page.locator("#flash")).to_contain_text("Accepted #2.")
    (item,) = httpx.get(f"{desk}/v1/backlog", timeout=60).json()
    httpx.patch(f"{desk}/v1/backlog/{item['id']}", json={"story_points": 3}, timeout=60)  # the backlog moves on
    page.select_option("#filter-status", "accepted")
    page.locator("#queue li", has_text="Dark mode").click()
    page.click("#undo")
    expect(page.locator("#flash.error")).to_contain_text("was edited since it was accepted")
    assert httpx.get(f"{desk}/v1/suggestions/2", timeout=60).json()["status"] == "accepted"


def test_how_reviews_went_shows_each_kind_s_answers_and_the_reviewers(page: Page, llm: LLM, desk: str):
    llm.chat.replies.extend([story_json(title="Filter by price"), story_json(title="Dark mode"), story_json()])
    for text in ("filter search results by price please", "a dark mode for night owls", "export orders as csv"):
        assert httpx.post(f"{desk}/v1/drafts", json={"text": text}, timeout=120).status_code == 201
    edits = {"edits": {"title": "Price range filter"}}
    assert httpx.post(f"{desk}/v1/suggestions/1/accept", json=edits, headers={"X-User": "ana"}, timeout=60).is_success
    reason = {"reason": "Out of scope <b>now</b>"}
    assert httpx.post(f"{desk}/v1/suggestions/2/reject", json=reason, headers={"X-User": "bo"}, timeout=60).is_success
    visit(page, "/#review")
    page.locator("#insights summary").click()
    kinds = page.locator("#insights-body table").first
    expect(kinds.locator("tbody tr")).to_have_count(1)
    hours = re.compile(r"^0(\.0\d*)?$")  # decided within seconds
    expect(kinds.locator("tbody tr td")).to_have_text(
        ["story_draft", "3", "1", "0", "1", "1", "1", "0", "50%", "", hours, "out of scope <b>now</b> (1)"]
    )  # a reason is text, never markup
    week = kinds.locator(".week")  # one bar: the week they were made, half of it accepted
    expect(week).to_have_count(1)
    expect(week).to_have_attribute("title", re.compile(r"^week of \d{4}-\d\d-\d\d: 1 accepted, 1 rejected$"))
    expect(week.locator(".week-bar")).to_have_attribute("style", "height: 50%")
    expect(page.locator("#insights-body")).to_contain_text("draft_story@")
    reviewers = page.locator("#insights-body table").last
    expect(reviewers.locator("tbody tr")).to_have_text([re.compile("ana\\s*1\\s*0"), re.compile("bo\\s*0\\s*1")])
    page.select_option("#insights-days", "")  # ever: the same three
    expect(kinds.locator("tbody tr td").nth(1)).to_have_text("3")


def test_the_activity_lists_what_people_did_and_opens_a_suggestion_from_its_line(page: Page, llm: LLM, desk: str):
    llm.chat.replies.extend([story_json(title="Filter by price"), story_json(title="Dark mode")])
    for text in ("filter search results by price please", "a dark mode for night owls"):
        assert httpx.post(f"{desk}/v1/drafts", json={"text": text}, timeout=120).status_code == 201
    reason = {"reason": "Later <i>maybe</i>"}
    assert httpx.post(f"{desk}/v1/suggestions/2/reject", json=reason, headers={"X-User": "bo"}, timeout=60).is_success
    said = httpx.post(f"{desk}/v1/suggestions/1/comments", json={"text": "Is this Q3?"}, headers={"X-User": "ana"})
    assert said.is_success
    visit(page, "/#review")
    page.fill("#reviewer", "ana")
    page.press("#reviewer", "Tab")
    page.locator("#activity summary").click()
    lines = page.locator("#activity-list li")
    expect(lines).to_have_count(2)
    expect(lines.first).to_contain_text("ana commented on #1 Filter by price: Is this Q3?")
    expect(lines.last).to_contain_text("bo rejected #2 Dark mode: Later <i>maybe</i>")  # text, never markup
    lines.last.locator(".activity-subject").click()
    expect(page.locator("#detail h2")).to_contain_text("#2 rejected")
    page.check("#activity-mine")
    expect(lines).to_have_count(1)
    expect(lines.first).to_contain_text("ana commented")
    page.uncheck("#activity-mine")
    made = httpx.post(f"{desk}/v1/backlog/items", json=[{"title": f"Item {i}"} for i in range(40)], timeout=120)
    ids = [i["id"] for i in made.json()["created"]]
    edited = httpx.post(f"{desk}/v1/backlog/edit", json={"item_ids": ids, "closed": True}, timeout=60)
    assert edited.is_success  # 40 edits, several stored in the same microsecond
    page.locator("#activity summary").click()
    page.locator("#activity summary").click()  # opened again: reloaded, 30 lines a page
    expect(lines).to_have_count(30)
    for shown in (60, 82):  # 40 items added, 40 edited, the 2 lines before them: each once
        page.click("#activity-older")
        expect(lines).to_have_count(shown)
    expect(page.locator("#activity-older")).to_be_hidden()
    closed = [line for line in lines.all_inner_texts() if line.endswith(": closed")]
    assert len(closed) == len(set(closed)) == 40


def test_the_inbox_counts_what_others_asked_of_the_reviewer_opens_it_and_marks_it_read(page: Page, llm: LLM, desk: str):
    llm.chat.replies.extend([story_json(title="Filter by price"), story_json(title="Dark mode")])
    for text in ("filter search results by price please", "a dark mode for night owls"):
        assert httpx.post(f"{desk}/v1/drafts", json={"text": text}, timeout=120).status_code == 201
    said = {"text": "Can you size this, @ana? <b>soon</b>"}
    assert httpx.post(f"{desk}/v1/suggestions/1/comments", json=said, headers={"X-User": "bo"}).is_success
    given = httpx.post(f"{desk}/v1/suggestions/2/assign", json={"assignee": "ana"}, headers={"X-User": "bo"})
    assert given.is_success
    visit(page, "/#draft")
    expect(page.locator("#inbox-unread")).to_have_text("")  # no name yet: no inbox
    page.fill("#reviewer", "ana")
    page.locator("#reviewer").dispatch_event("change")
    expect(page.locator("#inbox-unread")).to_have_text("2")
    page.click("#inbox-link")  # to the Review tab, the inbox open
    lines = page.locator("#inbox-list li")
    expect(lines).to_have_count(2)
    expect(lines.first).to_contain_text("bo gave you story draft #2 (Dark mode) to decide")
    expect(lines.last).to_contain_text(
        "bo mentioned you on story draft #1 (Filter by price): Can you size this, @ana? <b>soon</b>"
    )
    expect(page.locator("#inbox-list b")).to_have_count(0)  # text, never markup
    expect(page.locator("#inbox-list li.unread")).to_have_count(2)
    lines.last.locator(".inbox-text").click()
    expect(page.locator("#detail h2")).to_contain_text("#1")
    expect(page.locator("#inbox-list li.unread")).to_have_count(1)
    expect(page.locator("#inbox-count")).to_have_text("1")
    lines.last.get_by_role("button", name="Mark unread").click()
    expect(page.locator("#inbox-unread")).to_have_text("2")
    page.locator("#queue li", has_text="Dark mode").click()  # looked at in the queue: its line is read
    expect(page.locator("#inbox-unread")).to_have_text("1")
    expect(lines.first).not_to_have_class(re.compile("unread"))
    page.click("#inbox-all-read")
    expect(page.locator("#inbox-list li.unread")).to_have_count(0)
    expect(page.locator("#inbox-unread")).to_have_text("")
    assert httpx.get(f"{desk}/v1/inbox?unread=true", headers={"X-User": "ana"}).json() == []
    page.locator("#queue li", has_text="Filter by price").click()
    follow = page.locator("#comments .follow")
    expect(follow).to_contain_text("do not reach your inbox (mentions of you do)")  # not given it, not in its thread
    follow.get_by_role("button", name="Watch").click()
    expect(follow).to_contain_text("Its comments and decisions reach your inbox (watching).")
    reply = {"text": "Sized: 3 points."}
    assert httpx.post(f"{desk}/v1/suggestions/1/comments", json=reply, headers={"X-User": "bo"}).is_success
    page.locator("#queue li", has_text="Dark mode").click()
    expect(page.locator("#comments .follow")).to_contain_text("reach your inbox (given to you).")
    page.locator("#comments .follow").get_by_role("button", name="Mute").click()
    expect(page.locator("#comments .follow")).to_contain_text("Muted: its comments and decisions do not reach")
    assert httpx.post(f"{desk}/v1/suggestions/2/comments", json=reply, headers={"X-User": "bo"}).is_success
    watched = httpx.get(f"{desk}/v1/inbox?unread=true", headers={"X-User": "ana"}).json()
    assert [(n["reason"], n["suggestion_id"]) for n in watched] == [("commented", 1)]  # the muted one's: none
    page.click("#inbox-all-read")
    expect(page.locator("#inbox-unread")).to_have_text("")
    page.check("#inbox-unread-only")
    expect(lines).to_have_count(1)
    expect(lines.first).to_contain_text("Nothing here")
    assert httpx.post(f"{desk}/v1/projects", json={"key": "ops", "name": "Ops"}).status_code == 201
    llm.chat.replies.append(story_json(title="Rotate logs"))
    assert httpx.post(f"{desk}/v1/drafts?project=ops", json={"text": "rotate logs"}, timeout=120).is_success
    mention = {"text": "@ana rotate them weekly?"}
    assert httpx.post(
        f"{desk}/v1/suggestions/3/comments?project=ops", json=mention, headers={"X-User": "bo"}
    ).is_success
    page.reload()
    page.wait_for_selector("body[data-ready]", state="attached")
    expect(page.locator("#project option[value=ops]")).to_have_text("Ops (ops) · 1 unread")  # another project's count
    expect(page.locator("#project option[value=default]")).to_have_text("Default project (default)")


def test_an_items_comments_are_read_as_a_meeting_from_its_thread(page: Page, llm: LLM, desk: str):
    made = httpx.post(f"{desk}/v1/backlog/items", json={"title": "Export invoices as PDF"}, timeout=120)
    assert made.status_code == 201
    for author, text in (("ana", "Finance needs the VAT number on every invoice."),
                         ("bo", "Agreed, the export adds a VAT number column.")):  # fmt: skip
        assert httpx.post(f"{desk}/v1/backlog/1/comments", json={"text": text}, headers={"X-User": author}).is_success
    llm.chat.replies.append(json.dumps({"decisions": [{"decision": "The export adds a VAT number column.",
        "decided_by": "bo", "quotes": [{"turn": 1, "text": "the export adds a VAT number column"}]}]}))  # fmt: skip
    visit(page, "/#backlog/1")  # the item's thread opened
    thread = page.locator('#backlog tr[data-id="1"] .item-comments')
    expect(thread.locator("h4")).to_have_text("Comments (2)")
    thread.get_by_role("button", name="Read the discussion").click()
    expect(page.locator("#tab-meetings")).to_be_visible()
    meeting = page.locator("#meeting-view article.meeting")
    expect(meeting.locator(".meeting-title")).to_have_text("Comments on #1: Export invoices as PDF")
    expect(meeting.locator("a.meeting-item")).to_have_attribute("href", "#backlog/1")  # back to the item's thread
    expect(meeting).to_contain_text("The export adds a VAT number column.")
    expect(page.locator("#flash")).to_contain_text("done: 1 suggestion")


def test_an_items_thread_opens_from_the_inbox_and_takes_a_reply(page: Page, desk: str):
    made = httpx.post(f"{desk}/v1/backlog/items", json={"title": "Export invoices as PDF"}, timeout=120)
    assert made.status_code == 201
    asked = {"text": "@ana which currencies? <b>EUR</b>?"}
    assert httpx.post(f"{desk}/v1/backlog/1/comments", json=asked, headers={"X-User": "bo"}).status_code == 201
    visit(page, "/#draft")
    page.fill("#reviewer", "ana")
    page.locator("#reviewer").dispatch_event("change")
    expect(page.locator("#inbox-unread")).to_have_text("1")
    page.click("#inbox-link")
    line = page.locator("#inbox-list li").first
    expect(line).to_contain_text("bo mentioned you on item #1 (Export invoices as PDF): @ana which currencies?")
    line.locator(".inbox-text").click()
    expect(page.locator("#tab-backlog")).to_be_visible()
    thread = page.locator('#backlog tr[data-id="1"] .item-comments')
    expect(thread.locator("h4")).to_have_text("Comments (1)")
    expect(thread.locator(".comment-text")).to_have_text("@ana which currencies? <b>EUR</b>?")  # text, not markup
    expect(thread.locator(".mention.me")).to_have_text("@ana")
    expect(page.locator("#inbox-unread")).to_have_text("")  # the thread was shown: its line is read
    box = thread.locator("textarea")
    box.fill("EUR only, ")
    box.press_sequentially("@x")
    expect(thread.locator(".mention-menu")).to_be_hidden()  # no one's name starts so
    box.press("Backspace")
    menu = thread.locator(".mention-menu")
    expect(menu.locator("li")).to_have_text(["bo"])  # the names this project has used (accounts are off)
    box.press("Escape")
    expect(menu).to_be_hidden()
    box.press_sequentially("b")
    expect(menu).to_be_visible()  # its answer has come: Enter now takes the name
    expect(menu.locator("li.chosen")).to_have_text("bo")
    box.press("Enter")  # puts the name in; does not send
    expect(box).to_have_value("EUR only, @bo ")
    box.press("Control+Enter")
    expect(page.locator("#flash")).to_contain_text("Commented on item #1")
    expect(thread.locator("h4")).to_have_text("Comments (2)")
    expect(page.locator('#backlog tr[data-id="1"] .item-comments-button')).to_have_text("Comments (2)")
    follow = thread.locator(".follow")
    expect(follow).to_contain_text("Its comments and edits reach your inbox (in its thread).")
    follow.get_by_role("button", name="Mute").click()
    expect(follow).to_contain_text("Muted: its comments and edits do not reach your inbox.")
    assert httpx.get(f"{desk}/v1/backlog/1/subscription", headers={"X-User": "ana"}).json()["why"] == "muted"
    told = httpx.get(f"{desk}/v1/inbox", headers={"X-User": "bo"}).json()
    assert [(n["reason"], n["item_id"]) for n in told] == [("mentioned", 1)]
    reply = thread.locator("li").nth(1)
    reply.get_by_role("button", name="Edit").click()
    reply.locator("textarea").fill("EUR only, @bo and @cy")
    reply.get_by_role("button", name="Save").click()
    expect(page.locator("#flash")).to_contain_text("Comment edited.")
    expect(thread.locator(".comment-text").nth(1)).to_have_text("EUR only, @bo and @cy")
    assert len(httpx.get(f"{desk}/v1/inbox", headers={"X-User": "bo"}).json()) == 1  # told once
    told = httpx.get(f"{desk}/v1/inbox", headers={"X-User": "cy"}).json()  # newly mentioned: told
    assert [(n["reason"], n["item_id"]) for n in told] == [("mentioned", 1)]
    page.on("dialog", lambda dialog: dialog.accept())
    thread.locator("li", has_text="EUR only").get_by_role("button", name="Delete").click()
    expect(thread.locator("h4")).to_have_text("Comments (1)")
    thread.locator("xpath=ancestor::details[1]").locator(".copy-link").click()
    expect(page.locator("#flash")).to_contain_text(f"{desk}/?project=default#backlog/1")  # a link for a chat
    page.click("nav a[data-tab=review]")
    page.click("#activity summary")
    expect(page.locator("#activity-list li").first).to_contain_text("bo commented on item #1 Export invoices as PDF")
    page.locator("#activity-list li").first.locator(".activity-subject").click()
    expect(thread.locator("h4")).to_have_text("Comments (1)")


def test_a_comment_read_from_the_tracker_says_where_it_was_written_and_changes_there_only(page: Page, desk: str):
    item = {"title": "Export invoices as PDF", "external_id": "jira:SHOP-7",
            "comments": [{"id": "10001", "author": "Jo Park", "text": "EUR first"}]}  # fmt: skip
    assert httpx.post(f"{desk}/v1/backlog/items", json=item, timeout=120).status_code == 201
    mine = httpx.post(f"{desk}/v1/backlog/1/comments", json={"text": "And GBP?"}, headers={"X-User": "ana"})
    assert mine.status_code == 201
    visit(page, "/#backlog/1")
    thread = page.locator('#backlog tr[data-id="1"] .item-comments')
    expect(thread.locator("h4")).to_have_text("Comments (2)")
    theirs = thread.locator("ol.comments > li").nth(0)
    expect(theirs.locator(".comment-by")).to_contain_text("Jo Park")
    expect(theirs.locator(".comment-by")).to_contain_text("· from SHOP-7")
    expect(theirs.get_by_role("button")).to_have_count(0)  # edited or deleted in Jira, not here
    linked = "See https://wiki.example.com/Spec_(v2)). Ask @bo, not https://social.example.com/@ana."
    assert httpx.post(f"{desk}/v1/backlog/1/comments", json={"text": linked}).status_code == 201
    page.locator('#backlog tr[data-id="1"] .item-comments-button').click()  # drawn again
    said = thread.locator("ol.comments > li").nth(2).locator(".comment-text")
    expect(said).to_have_text(linked)
    expect(said.locator("a")).to_have_count(2)
    assert said.locator("a").first.get_attribute("href") == "https://wiki.example.com/Spec_(v2)"
    assert said.locator("a").nth(1).get_attribute("href") == "https://social.example.com/@ana"
    assert said.locator("a").first.get_attribute("rel") == "noopener noreferrer"
    expect(said.locator(".mention")).to_have_text(["@bo"])  # an @ inside an address is not a mention
    ours = thread.locator("ol.comments > li").nth(1)
    expect(ours.get_by_role("button", name="Edit")).to_be_visible()
    expect(ours.get_by_role("button", name="Delete")).to_be_visible()


def test_reviewers_discuss_a_suggestion_in_comments_kept_while_typing_and_shown_as_text(
    page: Page, llm: LLM, desk: str
):
    llm.chat.replies.extend([story_json(title="Filter search results by price"), story_json(title="Dark mode")])
    for text in ("filter search results by price please", "a dark mode for night owls"):
        assert httpx.post(f"{desk}/v1/drafts", json={"text": text}, timeout=120).status_code == 201
    said = {"text": "Is this <b>in scope</b> for Q3, @ana?", "author": "bo"}
    assert httpx.post(f"{desk}/v1/suggestions/1/comments", json=said, timeout=60).status_code == 201
    visit(page, "/#review")
    page.fill("#reviewer", "ana")
    page.locator("#reviewer").dispatch_event("change")
    expect(page.locator("#queue li", has_text="Filter search results by price")).to_contain_text("· 1 comment")
    page.locator("#queue li", has_text="Filter search results by price").click()
    expect(page.locator("#comments h3")).to_have_text("Comments (1)")
    expect(page.locator("#comments .comment-text")).to_have_text("Is this <b>in scope</b> for Q3, @ana?")  # not HTML
    expect(page.locator("#comments b")).to_have_count(0)
    expect(page.locator("#comments .mention.me")).to_have_text("@ana")  # the reader, marked
    page.keyboard.press("c")
    page.keyboard.type("After the redesign, ")
    page.locator("#queue li", has_text="Dark mode").click()  # half a comment is kept while looking elsewhere
    page.locator("#queue li", has_text="Filter search results by price").click()
    expect(page.locator("#comment-text")).to_have_value("After the redesign, ")
    page.locator("#comment-text").press("End")
    page.keyboard.type("I think.")
    page.keyboard.press("Control+Enter")  # sends the comment; does not accept the draft
    expect(page.locator("#flash")).to_contain_text("Commented on #1.")
    expect(page.locator("#comments .comment-text")).to_have_text(
        ["Is this <b>in scope</b> for Q3, @ana?", "After the redesign, I think."]
    )
    expect(page.locator("#comments .comment-by").nth(1)).to_contain_text("ana")
    expect(page.locator("#queue li", has_text="Filter search results by price")).to_contain_text("· 2 comments")
    mine = page.locator("#comments li").nth(1)
    mine.get_by_role("button", name="Edit").click()  # the comment's text in a box, the desk's keys off
    editor = mine.locator("textarea.comment-edit-text")
    expect(editor).to_have_value("After the redesign, I think.")
    editor.press("Escape")  # cancelled: the text as it was
    expect(mine.locator(".comment-text")).to_have_text("After the redesign, I think.")
    mine.get_by_role("button", name="Edit").click()
    editor.fill("After the redesign, in Q4.")
    editor.press("Control+Enter")  # saves the edit; does not accept the draft
    expect(page.locator("#flash")).to_contain_text("Comment edited.")
    expect(page.locator("#comments .comment-text").nth(1)).to_have_text("After the redesign, in Q4.")
    expect(page.locator("#comments .comment-by").nth(1)).to_contain_text("· edited")
    expect(page.locator("#comments .comment-by").nth(0)).not_to_contain_text("edited")
    (_, edited) = httpx.get(f"{desk}/v1/suggestions/1/comments", timeout=60).json()
    assert edited["text"] == "After the redesign, in Q4." and edited["edited_at"]
    assert httpx.get(f"{desk}/v1/suggestions/1", timeout=60).json()["status"] == "pending"
    page.once("dialog", lambda dialog: dialog.accept())
    page.locator("#comments li", has_text="in Q4.").get_by_role("button", name="Delete").click()
    expect(page.locator("#flash")).to_contain_text("Comment deleted.")
    expect(page.locator("#comments h3")).to_have_text("Comments (1)")
    page.keyboard.press("a")  # the review keys work again once out of the comment box
    expect(page.locator("#flash")).to_contain_text("Accepted #1.")
    assert [c["author"] for c in httpx.get(f"{desk}/v1/suggestions/1/comments", timeout=60).json()] == ["bo"]


def test_an_admin_adds_a_webhook_pings_it_sees_its_deliveries_and_removes_it(page: Page, llm: LLM, desk: str):
    from tests.webhook_receiver import receiver

    with receiver() as got:
        visit(page, "/#backlog")
        page.click("#webhooks summary")
        expect(page.locator("#webhooks-list")).to_contain_text("No webhook yet.")
        page.fill("#webhook-form input[name=url]", got.url)
        page.uncheck("#webhook-form input[value='suggestion.created']")
        page.click("#webhook-add")
        expect(page.locator("#flash")).to_contain_text(f"Webhook 1 added: 10 events to {got.url}")
        expect(page.locator("#webhook-secret code")).to_have_text(re.compile(r"^[\w-]{40,}$"))
        page.click("#webhooks-list .ping-webhook")
        expect(page.locator("#flash")).to_contain_text("Ping delivered: the receiver answered 200.")
        assert got.events() == ["ping"]
        expect(page.locator("#webhooks-list")).to_contain_text("1 / 0 / 0")
        llm.chat.replies.append(story_json(title="Dark mode"))
        made = httpx.post(f"{desk}/v1/drafts", json={"text": "dark mode"}, timeout=60).json()  # not subscribed
        httpx.post(f"{desk}/v1/suggestions/{made['id']}/reject", json={"reason": "later"}, timeout=60)
        assert [r.body["event"] for r in got.wait_for(2)] == ["ping", "suggestion.rejected"]  # sent by the server
        page.click("#webhooks-list .show-deliveries")
        expect(page.locator("#webhook-deliveries tbody tr")).to_have_count(2)
        expect(page.locator("#webhook-deliveries tbody tr").first).to_contain_text("suggestion.rejected")
        page.once("dialog", lambda dialog: dialog.accept())
        page.click("#webhooks-list .remove-webhook")
        expect(page.locator("#flash")).to_contain_text("Webhook 1 removed.")
        expect(page.locator("#webhooks-list")).to_contain_text("No webhook yet.")
    assert httpx.get(f"{desk}/v1/webhooks", timeout=60).json() == []


def test_a_reviewer_takes_a_suggestion_and_filters_the_queue_to_their_own(
    page: Page, llm: LLM, desk: str, tmp_path: Path
):
    llm.chat.replies.extend([story_json(title="Filter search results by price"), story_json(title="Dark mode")])
    for text in ("filter search results by price please", "a dark mode for night owls"):
        assert httpx.post(f"{desk}/v1/drafts", json={"text": text}, timeout=120).status_code == 201
    with sqlite3.connect(tmp_path / "refinery.db") as db:  # the first has waited three days and a bit
        db.execute("UPDATE suggestions SET created_at = datetime('now', '-3 days', '-1 hour') WHERE id = 1")
    visit(page, "/#review")
    expect(page.locator("#queue li", has_text="Filter search results")).to_contain_text("waiting 3 d")
    expect(page.locator("#queue li .age")).to_have_count(1)
    expect(page.locator("#pending-count")).to_have_text("2")
    page.select_option("#filter-assignee", "me")
    expect(page.locator("#flash")).to_contain_text("Type your name in Reviewer first")
    expect(page.locator("#queue li")).to_have_count(0)
    page.fill("#reviewer", "ana")
    page.locator("#reviewer").dispatch_event("change")
    page.select_option("#filter-assignee", "")
    page.locator("#queue li", has_text="Dark mode").click()
    page.keyboard.press("m")
    expect(page.locator("#flash")).to_contain_text("#2 is assigned to ana.")
    expect(page.locator("#pending-count")).to_have_text("2 · 1 yours")
    expect(page.locator("#queue li", has_text="Dark mode")).to_contain_text("→ ana")
    page.locator("#queue li", has_text="Filter search results").click()
    page.fill("#assignee", "bo")
    page.click("#assign")
    expect(page.locator("#flash")).to_contain_text("#1 is assigned to bo.")
    page.select_option("#filter-assignee", "me")
    expect(page.locator("#queue li")).to_have_count(1)
    expect(page.locator("#queue li")).to_contain_text("Dark mode")
    page.select_option("#filter-assignee", "none")
    expect(page.locator("#queue li")).to_have_count(0)
    page.select_option("#filter-assignee", "")
    page.locator("#queue li", has_text="Filter search results").click()
    page.click("#unassign")
    expect(page.locator("#flash")).to_contain_text("#1 is assigned to no one.")
    history = httpx.get(f"{desk}/v1/suggestions/1/history", timeout=60).json()
    assert [(e["actor"], e["after"]) for e in history if e["action"] == "assigned"] == [
        ("ana", {"assignee": "bo"}), ("ana", {"assignee": None})
    ]  # fmt: skip
    page.check("#bulk-all")
    page.focus("#bulk-assignee")  # offers the names used here: ana is given #2 (bo no longer anything)
    expect(page.locator("datalist#people option")).to_have_count(1)
    assert page.locator("#bulk-assignee").get_attribute("list") == "people"
    assert page.locator("datalist#people option").get_attribute("value") == "ana"
    page.fill("#bulk-assignee", "cy")
    page.click("#bulk-assign")
    expect(page.locator("#flash")).to_contain_text("Assigned 2 of 2 to cy.")
    expect(page.locator("#queue li .assignee")).to_have_text([" → cy", " → cy"])


def test_edits_not_yet_accepted_are_kept_while_the_reviewer_looks_elsewhere(page: Page, llm: LLM, desk: str):
    """Another suggestion, another tab: coming back shows the edits typed before, and accepting applies them; ticked
    with others to accept as they are, it is held back, saying why."""
    llm.chat.replies.extend([story_json(), story_json(title="Export invoices as PDF")])
    draft_idea(page, "customers keep asking to filter search results by price")
    draft_idea(page, "accountants want invoices as PDF")
    visit(page, "/#review")
    page.locator("#queue li", has_text="Filter search results by price").click()
    page.fill("#story-form [name=title]", "Filter search results by a price range")
    page.locator("#criteria .criterion").nth(0).locator("[name=then]").fill("only items in the range are shown")
    page.locator("#queue li", has_text="Export invoices as PDF").click()
    expect(page.locator("#story-form [name=title]")).to_have_value("Export invoices as PDF")
    expect(page.locator("#detail .unsaved")).to_have_count(0)
    expect(page.locator("#queue li.edited")).to_have_count(1)  # the queue marks the one with edits kept
    expect(page.locator("#queue li.edited")).to_contain_text("Filter search results by price")
    page.click("nav a[data-tab=backlog]")
    page.click("nav a[data-tab=review]")
    page.locator("#queue li", has_text="Filter search results by price").click()
    expect(page.locator("#story-form [name=title]")).to_have_value("Filter search results by a price range")
    expect(page.locator("#criteria .criterion").nth(0).locator("[name=then]")).to_have_value(
        "only items in the range are shown"
    )
    expect(page.locator("#detail .unsaved")).to_contain_text("Your edits, not yet accepted, are kept")
    page.check("#bulk-all")  # accepting ticked ones "as they are" would drop the edits: refused, saying which
    page.click("#bulk-accept")
    expect(page.locator("#flash")).to_contain_text("#1 has your edits, not yet accepted: accept it on its own (a)")
    assert httpx.get(f"{desk}/v1/backlog", timeout=30).json() == []
    page.uncheck("#bulk-all")
    asked: list[str] = []  # leaving the page with edits kept but not accepted: the browser asks first
    page.once("dialog", lambda dialog: (asked.append(dialog.type), dialog.dismiss()))
    page.evaluate("location.reload()")
    page.wait_for_timeout(500)
    assert asked == ["beforeunload"]
    page.click("#accept")
    expect(page.locator("#flash")).to_contain_text("with your edits")
    item = httpx.get(f"{desk}/v1/backlog", timeout=30).json()[0]
    assert item["title"] == "Filter search results by a price range"
    assert "only items in the range are shown" in item["description"]
    expect(page.locator("#detail .unsaved")).to_have_count(0)  # the other draft, never edited
    expect(page.locator("#queue li.edited")).to_have_count(0)
    asked.clear()
    page.once("dialog", lambda dialog: (asked.append(dialog.type), dialog.accept()))
    page.reload()  # nothing kept now: leaving does not ask
    expect(page.locator("#queue li")).to_have_count(1)
    assert asked == []


@pytest.mark.parametrize("llm", [{"delay_s": 0.1}], indirect=True, ids=["slow-model"])
def test_a_draft_is_previewed_field_by_field_while_the_model_writes_it(page: Page, llm: LLM):
    # the first reply lacks most fields: the model is asked again, and what it wrote first leaves the preview
    llm.chat.replies.extend([json.dumps({"title": "Half a story", "labels": ["stale"]}), story_json()])
    visit(page, "/#draft")
    page.fill("#idea-text", "customers keep asking to filter search results by price")
    page.click("#draft-submit")
    preview = page.locator("#draft-preview")
    expect(page.locator("#draft-status")).to_contain_text("The model is answering again (attempt 2)")
    expect(preview.locator(".preview-title")).to_have_text("Filter search results by price")
    expect(preview.locator(".preview-story")).to_contain_text("As a online shopper, I want to filter search results")
    expect(preview.locator(".preview-criteria li").first).to_have_text(
        "Given search results are shown when I set a min and max price then only products in range remain"
    )
    # all this arrived while the model was still writing: the review queue has not opened yet
    assert page.locator("#tab-review").is_hidden() and page.locator("#draft-submit").is_disabled()
    expect(preview).not_to_contain_text("stale")
    llm.chat.delay_s = 0  # the rest at once
    expect(page.locator("#story-form")).to_be_visible()
    expect(page.locator("#detail h2")).to_contain_text("pending")
    expect(page.locator("#story-form [name=title]")).to_have_value("Filter search results by price")
    expect(page.locator("#flash")).to_contain_text("Draft #1 is ready for review.")
    expect(page.locator("#draft-progress")).to_be_hidden()
    assert page.input_value("#idea-text") == ""


@pytest.mark.parametrize("llm", [{"delay_s": 0.1, "slots": 1}], indirect=True, ids=["one-slot"])
def test_a_draft_sent_while_the_model_is_busy_shows_its_place_in_line(page: Page, llm: LLM, desk: str):
    llm.chat.replies.extend([story_json(title="Price filter"), story_json(title="Dark mode")])
    started = threading.Event()
    first: list[tuple[str, str]] = []

    def draft_elsewhere() -> None:  # another reviewer's draft, which the model is writing
        headers = {"Accept": "text/event-stream"}
        body = {"text": "filter search results by price"}
        with httpx.stream("POST", f"{desk}/v1/drafts", json=body, headers=headers, timeout=120) as response:
            event = ""
            for line in response.iter_lines():
                if line.startswith("event:"):
                    event = line.split(":", 1)[1].strip()
                    if event == "started":
                        started.set()
                elif line.startswith("data:") and event in ("done", "error"):
                    first.append((event, line.split(":", 1)[1]))

    elsewhere = threading.Thread(target=draft_elsewhere, daemon=True)
    elsewhere.start()
    assert started.wait(TIMEOUT_MS / 1000), "the first draft did not start"
    visit(page, "/#draft")
    page.fill("#idea-text", "dark mode please")
    page.click("#draft-submit")
    expect(page.locator("#draft-status")).to_have_text(
        "Waiting for the model: it is working on 1 call; yours is next in line."
    )
    assert page.locator("#draft-preview").inner_text() == ""
    llm.chat.delay_s = 0  # the rest at once
    expect(page.locator("#story-form [name=title]")).to_have_value("Dark mode")
    elsewhere.join(TIMEOUT_MS / 1000)
    assert [event for event, _ in first] == ["done"]
    assert json.loads(first[0][1])["payload"]["title"] == "Price filter"


def test_ticked_suggestions_are_rejected_for_one_reason_then_the_rest_accepted_at_once(page: Page, llm: LLM, desk: str):
    titles = ["Price filter", "Dark mode", "CSV export"]
    llm.chat.replies.extend(story_json(title=title) for title in titles)
    for title in titles:
        assert httpx.post(f"{desk}/v1/drafts", json={"text": title.lower()}, timeout=120).status_code == 201
    visit(page, "/#review")
    queue = page.locator("#queue li")
    expect(queue).to_have_count(3)
    expect(page.locator("#pending-count")).to_have_text("3")
    expect(queue.nth(0)).to_have_class(re.compile("selected"))
    queue.nth(2).locator(".tick").check()  # a box, or x on the selected one
    expect(queue.nth(2)).not_to_have_class(re.compile("selected"))  # ticking does not open it
    page.keyboard.press("x")
    expect(page.locator("#bulk-count")).to_have_text("2 ticked")
    page.click("#bulk-reject")
    expect(page.locator("#bulk-reason")).to_be_focused()  # a rejection needs its reason
    page.fill("#bulk-reason", "not this quarter")
    page.click("#bulk-reject")
    expect(page.locator("#flash")).to_contain_text("Rejected 2 of 2.")
    expect(queue).to_have_text([re.compile("Dark mode")])
    page.click("#flash button.undo")  # both at once, pending again; then rejected again
    expect(page.locator("#flash")).to_have_text("Undone 2 of 2: pending again.")
    expect(queue).to_have_count(3)
    queue.nth(0).locator(".tick").check()
    queue.nth(2).locator(".tick").check()
    page.fill("#bulk-reason", "not this quarter")
    page.click("#bulk-reject")
    expect(page.locator("#flash")).to_contain_text("Rejected 2 of 2.")
    expect(queue).to_have_text([re.compile("Dark mode")])
    expect(page.locator("#pending-count")).to_have_text("1")
    page.check("#bulk-all")
    page.click("#bulk-accept")
    expect(page.locator("#flash")).to_contain_text("Accepted 1 of 1.")
    expect(page.locator("#detail .empty")).to_have_text("Nothing to review here.")
    rejected = httpx.get(f"{desk}/v1/suggestions?status=rejected", timeout=120).json()
    assert sorted((s["payload"]["title"], s["reason"]) for s in rejected) == [
        ("CSV export", "not this quarter"),
        ("Price filter", "not this quarter"),
    ]
    assert [i["title"] for i in httpx.get(f"{desk}/v1/backlog", timeout=120).json()] == ["Dark mode"]
    page.select_option("#filter-status", "all")
    expect(queue).to_have_count(3)
    expect(page).to_have_url(f"{desk}/#review?status=all")  # "all", as the CLI and the backlog's filter say it
    for address in ("/#review?status=all", "/#review?status="):  # a view saved before "all" was named says ""
        visit(page, address)
        expect(page.locator("#filter-status")).to_have_value("all")
        expect(queue).to_have_count(3)
    page.fill("#filter-q", "dark MODE")  # words in what it proposes, any case
    expect(queue).to_have_text([re.compile("Dark mode")])
    page.fill("#filter-q", "csv")
    expect(queue).to_have_text([re.compile("CSV export")])


def test_a_queue_longer_than_a_page_says_how_many_are_not_shown(page: Page, tmp_path: Path):
    from service.core.enums import SuggestionKind
    from service.core.runtime import Runtime
    from service.core.suggestions import Proposal, create_suggestion

    runtime = Runtime(Settings(REFINERY_DATA_DIR=tmp_path, REFINERY_LLM_PROVIDER="fake", OPENAI_API_KEY=None))
    with runtime.db.session() as session:  # the desk's own database
        for n in range(201):
            proposal = Proposal(json.loads(story_json(title=f"Idea {n}")), "fake", "fake", "draft_story@test")
            create_suggestion(session, SuggestionKind.story_draft, proposal, {"text": f"idea {n}"})
    runtime.db.engine.dispose()
    visit(page, "/#review")
    expect(page.locator("#queue li")).to_have_count(200)
    expect(page.locator("#pending-count")).to_have_text("201")
    expect(page.locator("#queue-total")).to_have_text(
        "the newest 200 of 201 shown: decide these, or filter or search, to see the rest"
    )
    page.select_option("#filter-kind", "merge")
    expect(page.locator("#queue-total")).to_have_text("")


def test_keyboard_next_regenerate_reject_and_criteria_add_remove(page: Page, llm: LLM, desk: str):
    llm.chat.replies.extend([story_json(title="Price filter"), story_json(title="Dark mode")])
    draft_idea(page, "filter by price")
    draft_idea(page, "dark mode please")
    visit(page, "/#review")
    expect(page.locator("#queue li")).to_have_count(2)
    expect(page.locator("#queue li.selected")).to_contain_text("Dark mode")  # the one just drafted
    page.keyboard.press("k")
    expect(page.locator("#queue li.selected")).to_contain_text("Price filter")
    page.keyboard.press("j")
    expect(page.locator("#queue li.selected")).to_contain_text("Dark mode")
    page.keyboard.press("ArrowUp")
    expect(page.locator("#queue li.selected")).to_contain_text("Price filter")

    # regenerate replaces the draft: same suggestion, new title, still two in the queue
    llm.chat.replies.append(story_json(title="Price range filter on search"))
    page.keyboard.press("g")
    expect(page.locator("#story-form [name=title]")).to_have_value("Price range filter on search")
    expect(page.locator("#queue li")).to_have_count(2)
    expect(page.locator("#detail h2")).to_contain_text("#1")

    # criteria one by one: add one, remove the first; Ctrl+Enter accepts while editing
    page.click("#add-criterion")
    row = page.locator("#criteria .criterion").nth(2)
    row.locator("[name=given]").fill("a price filter is set")
    row.locator("[name=when]").fill("I reload the page")
    row.locator("[name=then]").fill("the filter is still set")
    page.locator("#criteria .criterion").nth(0).locator("button.remove").click()
    expect(page.locator("#criteria .criterion")).to_have_count(2)
    page.locator("#criteria .criterion").last.locator("[name=then]").press("Control+Enter")
    expect(page.locator("#flash")).to_contain_text("Accepted #1")
    item = httpx.get(f"{desk}/v1/backlog", timeout=120).json()[0]
    assert [c["when"] for c in item["story"]["acceptance_criteria"]] == ["I clear it", "I reload the page"]

    # the accepted one left the pending queue; r asks for a reason, Enter rejects
    expect(page.locator("#queue li")).to_have_count(1)
    page.keyboard.press("r")
    expect(page.locator("#reject-reason")).to_be_focused()
    page.keyboard.type("not this quarter")
    page.keyboard.press("Enter")
    expect(page.locator("#flash")).to_contain_text("Rejected #2")
    rejected = httpx.get(f"{desk}/v1/suggestions/2", timeout=120).json()
    assert rejected["status"] == "rejected" and rejected["reason"] == "not this quarter"
    page.select_option("#filter-status", "rejected")
    expect(page.locator("#queue li")).to_have_count(1)
    expect(page.locator("#detail h2")).to_contain_text("rejected")
    page.keyboard.press("h")
    expect(page.locator("#history")).to_contain_text("rejected")


def test_import_shows_duplicates_on_a_new_draft_and_ticket_text_stays_text(page: Page, llm: LLM, desk: str, tmp_path):
    issues = [
        {"number": 7, "html_url": "https://github.com/acme/shop/issues/7", "title": "Filter search results by price",
         "body": "Shoppers want a min and max price filter on search results.", "labels": [{"name": "enhancement"}]},
        {"number": 8, "html_url": "https://github.com/acme/shop/issues/8", "title": "Password reset mail missing",
         "body": "<img src=x onerror=\"document.title='owned'\"> reset mails never arrive", "labels": ["bug"]},
    ]  # fmt: skip
    path = tmp_path / "issues.json"
    path.write_text(json.dumps(issues))
    visit(page, "/#backlog")
    page.select_option("#import-format", "github_json")
    page.set_input_files("#import-file", str(path))
    page.check("#import-dry-run")  # first only what it would do
    page.click("#import-submit")
    expect(page.locator("#flash")).to_contain_text("Dry run, nothing written: would import 2, update 0")
    expect(page.locator("#backlog .item-title")).to_have_count(0)
    page.uncheck("#import-dry-run")
    page.set_input_files("#import-file", str(path))
    page.click("#import-submit")
    expect(page.locator("#flash")).to_contain_text("2 imported, 0 updated from the tracker, 0 already in the backlog")
    issues[1] |= {"title": "Password reset mail missing for outlook.com", "state": "closed"}  # changed since
    path.write_text(json.dumps(issues))
    page.set_input_files("#import-file", str(path))
    page.click("#import-submit")
    expect(page.locator("#flash")).to_contain_text("0 imported, 1 updated from the tracker, 1 already in the backlog")
    expect(page.locator("#backlog .item-title")).to_have_count(2)
    expect(page.locator("#backlog tr.closed .item-title")).to_have_text(
        "Password reset mail missing for outlook.com (closed)"
    )
    page.locator("#backlog .item-title", has_text="Password reset").click()
    expect(page.locator("#backlog .description").nth(1)).to_contain_text("<img src=x")
    assert page.locator("#backlog img").count() == 0 and page.title() != "owned"

    llm.chat.replies.append(story_json(title="Filter search results by price range"))
    draft_idea(page, "let shoppers filter search results by a min and max price")
    duplicates = page.locator("#detail section.evidence table")
    expect(duplicates).to_contain_text("Filter search results by price")
    expect(duplicates).to_contain_text("duplicate")
    page.select_option("#filter-kind", "merge")
    page.select_option("#filter-status", "pending")
    expect(page.locator("#queue li")).to_have_count(1)
    expect(page.locator("#detail")).to_contain_text("Keep item #1 Filter search results by price")
    # "not a duplicate": the verdict learns from it, the backlog says so, and the reset forgets it
    page.keyboard.press("r")
    expect(page.locator("#reject-reason")).to_be_focused()
    page.keyboard.type("not the same request")
    page.keyboard.press("Enter")
    expect(page.locator("#flash")).to_contain_text("Rejected")
    learned_then_reset(
        page, "backlog", "duplicate-learning", "learned from 1 merge decisions (0 accepted, 1 rejected)",
        "nothing learned from this project's merge decisions yet",
    )  # fmt: skip


def test_an_item_is_edited_in_the_backlog_tab_and_its_history_shows_who_changed_what(page: Page, desk: str):
    item = {"title": "Export invoices", "description": "Finance exports invoices.", "story_points": 5}
    assert httpx.post(f"{desk}/v1/backlog/items", json=item, timeout=120).status_code == 201
    visit(page, "/#backlog")
    page.fill("#reviewer", "pat@example.com")
    page.press("#reviewer", "Tab")
    page.locator("#backlog .item-title").click()
    page.click("#backlog .edit-item")
    form = page.locator("#backlog .edit-item-form")
    form.locator("[name=title]").fill("Export invoices to CSV")
    form.locator("[name=story_points]").fill("")
    form.locator("[name=closed]").check()
    form.locator(".save-item").click()
    expect(page.locator("#flash")).to_contain_text("Saved #1: title, story_points, closed changed.")
    expect(page.locator("#backlog tr.closed .item-title")).to_have_text("Export invoices to CSV (closed)")
    page.locator("#backlog .item-title").click()
    page.click("#backlog .item-history-button")
    expect(page.locator("#backlog .item-history li").first).to_contain_text("added by someone")  # unnamed, by the API
    expect(page.locator("#backlog .item-history li").last).to_contain_text(
        'edited by pat@example.com: title: "Export invoices" → "Export invoices to CSV"; story_points: 5 → null; '
        "closed: false → true"
    )


def save_field(row, name: str, value: str) -> None:
    """Type `value` into the open Edit form's field `name` of the backlog row, and save."""
    row.locator(f"[name={name}]").fill(value)
    row.locator(".save-item").click()


def test_an_item_is_made_to_wait_for_others_by_id_or_key_and_the_backlog_shows_both_sides(page: Page, desk: str):
    items = [
        {"title": "Checkout API", "external_id": "jira:SHOP-1"},
        {"title": "Payments SDK", "external_id": "jira:SHOP-2", "closed": True},
        {"title": "Checkout page"},
    ]
    assert httpx.post(f"{desk}/v1/backlog/items", json=items, timeout=120).status_code == 201
    visit(page, "/#backlog")
    page_row = page.locator("#backlog tbody tr[data-id='3']")
    page_row.locator(".item-title").click()
    page_row.locator(".edit-item").click()
    save_field(page_row, "depends_on", "SHOP-9")
    expect(page.locator("#flash")).to_contain_text("No item has the key SHOP-9")
    save_field(page_row, "depends_on", "shop-1, #2")
    expect(page.locator("#flash")).to_contain_text("Saved #3: depends_on changed.")
    expect(page_row.locator(".waits-mark")).to_have_text(" (waits for SHOP-1)")  # SHOP-2 is done
    page_row.locator(".item-title").click()
    expect(page_row.locator(".item-links")).to_have_text("Waits for: SHOP-1 Checkout API; SHOP-2 Payments SDK (closed)")
    api_row = page.locator("#backlog tbody tr[data-id='1']")
    api_row.locator(".item-title").click()
    expect(api_row.locator(".item-links")).to_have_text("Blocks: #3 Checkout page")
    api_row.locator(".edit-item").click()
    save_field(api_row, "depends_on", "3")
    expect(page.locator("#flash")).to_contain_text("#3 waits for #1: #1 cannot also wait for #3, that would be a cycle")
    assert httpx.get(f"{desk}/v1/backlog/1", timeout=30).json()["depends_on"] == []


def test_items_are_ranked_by_dragging_one_onto_another_and_ticked_ones_moved_together(page: Page, desk: str):
    items = [{"title": "Checkout", "external_id": "jira:SHOP-1"}, {"title": "Payments"}, {"title": "Search"}]
    assert httpx.post(f"{desk}/v1/backlog/items", json=items, timeout=120).status_code == 201
    visit(page, "/#backlog")
    page.fill("#reviewer", "ana")
    page.locator("#reviewer").dispatch_event("change")
    rows = page.locator("#backlog tbody tr")
    titles = rows.locator(".item-title")
    expect(titles).to_have_text(["Checkout", "Payments", "Search"])
    page.locator("#backlog tbody tr[data-id='3'] .drag").drag_to(page.locator("#backlog tbody tr[data-id='1']"))
    expect(page.locator("#flash")).to_contain_text("Ranked 1 item: #3 to 1.")
    expect(titles).to_have_text(["Search", "Checkout", "Payments"])
    expect(page.locator("#backlog tbody tr[data-id='3'] .rank")).to_have_text("⠿ 1 by hand")
    expect(page.locator("#backlog tbody tr[data-id='3'] .by-hand")).to_have_attribute("title", re.compile("by ana"))
    for item_id in ("1", "2"):
        page.check(f"#backlog tbody tr[data-id='{item_id}'] .tick-item")
    page.click("#backlog-bulk-top")
    expect(page.locator("#flash")).to_contain_text("Ranked 2 items: #1 to 1, #2 to 2.")
    expect(titles).to_have_text(["Checkout", "Payments", "Search"])
    page.check("#backlog tbody tr[data-id='2'] .tick-item")
    page.fill("#backlog-bulk-anchor", "shop-1")
    page.click("#backlog-bulk-above")
    expect(titles).to_have_text(["Payments", "Checkout", "Search"])
    page.check("#backlog tbody tr[data-id='2'] .tick-item")
    page.click("#backlog-bulk-score")  # no scores accepted yet: it stays where it is, no longer by hand
    expect(page.locator("#flash")).to_contain_text("1 item back to their scores.")
    expect(page.locator("#backlog tbody tr[data-id='2'] .by-hand")).to_have_count(0)
    ranks = [(i["id"], i["priority_rank"], i["ranked_by"]) for i in httpx.get(f"{desk}/v1/backlog", timeout=30).json()]
    assert ranks == [(1, 2, "ana"), (2, 1, None), (3, 3, "ana")]


def test_an_item_is_put_under_an_epic_by_key_and_taken_out_and_a_cycle_is_refused(page: Page, desk: str):
    items = [{"title": "Checkout", "external_id": "jira:SHOP-1"}, {"title": "Payments"}, {"title": "Checkout page"}]
    assert httpx.post(f"{desk}/v1/backlog/items", json=items, timeout=120).status_code == 201
    visit(page, "/#backlog")
    page_row = page.locator("#backlog tbody tr[data-id='3']")
    page_row.locator(".item-title").click()
    page_row.locator(".edit-item").click()
    save_field(page_row, "parent", "shop-1")
    expect(page.locator("#flash")).to_contain_text("Saved #3: parent_id changed.")
    page_row.locator(".item-title").click()
    expect(page_row.locator(".item-links")).to_have_text("Under: SHOP-1 Checkout")
    epic_row = page.locator("#backlog tbody tr[data-id='1']")
    epic_row.locator(".item-title").click()
    expect(epic_row.locator(".item-links")).to_have_text("Holds: #3 Checkout page")
    epic_row.locator(".edit-item").click()
    save_field(epic_row, "parent", "3")
    expect(page.locator("#flash")).to_contain_text("#3 under #1: #1 cannot also be under #3, that would be a cycle")
    page.fill("#backlog-parent", "shop-1")  # only the epic's stories
    page.press("#backlog-parent", "Enter")
    expect(page.locator("#backlog-count")).to_have_text("1 item matches")
    expect(page.locator("#backlog tbody tr")).to_have_count(1)
    expect(page.locator("a.export").first).to_have_attribute("href", re.compile(r"parent_id=1"))
    page.fill("#backlog-parent", "")
    page.press("#backlog-parent", "Enter")
    expect(page.locator("#backlog tbody tr")).to_have_count(3)
    page_row.locator(".item-title").click()
    page_row.locator(".edit-item").click()
    save_field(page_row, "parent", "")
    expect(page.locator("#flash")).to_contain_text("Saved #3: parent_id changed.")
    assert httpx.get(f"{desk}/v1/backlog/3", timeout=30).json()["parent_id"] is None


def test_ticked_items_get_a_label_and_are_closed_together(page: Page, desk: str):
    items = [{"title": "Checkout API"}, {"title": "Payments SDK", "labels": ["old"]}, {"title": "Dark mode"}]
    assert httpx.post(f"{desk}/v1/backlog/items", json=items, timeout=120).status_code == 201
    visit(page, "/#backlog")
    expect(page.locator("#backlog-bulk")).to_be_hidden()
    for item in (1, 2):
        page.locator(f"#backlog tbody tr[data-id='{item}'] .tick-item").check()
    expect(page.locator("#backlog-bulk-count")).to_have_text("2 ticked:")
    page.click("#backlog-bulk-add")
    expect(page.locator("#flash")).to_contain_text("Type the label first.")
    page.fill("#backlog-bulk-label", "Q3")
    page.click("#backlog-bulk-add")
    expect(page.locator("#flash")).to_contain_text("2 changed, 0 already so.")
    expect(page.locator("#backlog-bulk")).to_be_hidden()  # the list was reloaded: nothing ticked
    expect(page.locator("#backlog tbody tr[data-id='2']")).to_contain_text("old, q3")
    page.check("#backlog-tick-all")
    expect(page.locator("#backlog-bulk-count")).to_have_text("3 ticked:")
    page.click("#backlog-bulk-close")
    expect(page.locator("#flash")).to_contain_text("3 changed, 0 already so.")
    expect(page.locator("#backlog tbody tr.closed")).to_have_count(3)
    assert [i["labels"] for i in httpx.get(f"{desk}/v1/backlog", timeout=30).json()] == [["q3"], ["old", "q3"], []]
    for item in (2, 3):
        page.locator(f"#backlog tbody tr[data-id='{item}'] .tick-item").check()
    page.fill("#backlog-bulk-parent", "1")
    page.click("#backlog-bulk-move")
    expect(page.locator("#flash")).to_contain_text("2 changed, 0 already so.")
    assert [i["parent_id"] for i in httpx.get(f"{desk}/v1/backlog", timeout=30).json()] == [None, 1, 1]
    page.locator("#backlog tbody tr[data-id='2'] .tick-item").check()
    page.click("#backlog-bulk-unparent")
    expect(page.locator("#flash")).to_contain_text("1 changed, 0 already so.")
    assert [i["parent_id"] for i in httpx.get(f"{desk}/v1/backlog", timeout=30).json()] == [None, None, 1]


def test_an_admin_connects_jira_sends_the_ticked_items_then_all_and_pulls_a_change_back(page: Page, desk: str):
    from tests.tracker_standin import TOKEN, USER, standin

    items = [{"title": "Checkout API"}, {"title": "Payments SDK"}, {"title": "Dark mode"}]
    assert httpx.post(f"{desk}/v1/backlog/items", json=items, timeout=120).status_code == 201
    with standin() as site:
        visit(page, "/#backlog")
        expect(page.locator("#tracker-send")).to_be_hidden()
        page.click("#tracker summary")
        page.fill("#tracker-form input[name=url]", site.url)
        page.fill("#tracker-form input[name=target]", "SHOP")
        page.fill("#tracker-form input[name=user]", USER)
        page.fill("#tracker-form input[name=token]", TOKEN)
        page.click("#tracker-save")
        expect(page.locator("#flash")).to_contain_text("Tracker saved")
        page.click("#tracker-check")
        expect(page.locator("#flash")).to_contain_text("signed in to Jira as Ana Lima; project SHOP: Shop")
        expect(page.locator("#tracker-send")).to_have_text("Send to Jira SHOP (3 new)")
        page.wait_for_load_state("networkidle")  # the backlog reloaded after the save: a tick now stays
        page.locator("#backlog tbody tr[data-id='2'] .tick-item").check()
        page.click("#backlog-bulk-send")
        expect(page.locator("#flash")).to_contain_text("1 created, 0 updated, 0 unchanged.")
        link = page.locator("#backlog tbody tr[data-id='2'] a", has_text="SHOP-1")
        expect(link).to_have_attribute("href", f"{site.url}/browse/SHOP-1")
        expect(page.locator("#tracker-send")).to_have_text("Send to Jira SHOP (2 new)")
        page.click("#tracker-send")
        expect(page.locator("#flash")).to_contain_text("2 created, 0 updated, 1 unchanged.")
        expect(page.locator("#tracker-send")).to_have_text("Send to Jira SHOP (nothing new)")
        expect(page.locator("#tracker-job")).to_contain_text("3 of 3")
        expect(page.locator("#backlog .changed-mark")).to_have_count(0)
        row = page.locator("#backlog tbody tr[data-id='3']")
        row.locator(".item-title").click()
        row.locator(".edit-item").click()
        row.locator("[name=labels]").fill("ux")
        save_field(row, "parent", "1")  # changed here: the row says what a send would update
        expect(row.locator(".changed-mark")).to_have_text(" (changed here: labels, parent)")
        expect(page.locator("#tracker-send")).to_have_text("Send to Jira SHOP (1 changed)")
        page.click("#tracker-send")
        expect(page.locator("#flash")).to_contain_text("0 created, 1 updated, 2 unchanged.")
        expect(page.locator("#backlog .changed-mark")).to_have_count(0)
        summaries = sorted(issue["summary"] for issue in site.jira().values())
        assert summaries == ["Checkout API", "Dark mode", "Payments SDK"]
        assert httpx.post(f"{desk}/v1/backlog/rank", json={"item_ids": [3, 1], "to": "top"}, timeout=30).is_success
        page.check("#tracker-order")  # then the ranked issues in the backlog's order there
        page.click("#tracker-send")
        expect(page.locator("#tracker-job")).to_contain_text(
            "order: 2 ranked issues put in the backlog's order in Jira"
        )
        assert site.rank[:2] == ["SHOP-3", "SHOP-2"]  # items 3 and 1
        site.issues["SHOP-1"]["summary"] = "Payments SDK v2"  # changed in Jira
        page.click("#tracker-pull-preview")
        would = "would import 0, update 1 from the tracker (jira:SHOP-1 (title))"
        expect(page.locator("#flash")).to_contain_text(would)
        expect(page.locator("#backlog tbody tr[data-id='2']")).not_to_contain_text("Payments SDK v2")
        page.click("#tracker-pull")
        expect(page.locator("#flash")).to_contain_text(  # the first pull reads every issue
            "0 imported, 1 updated from the tracker, 2 already in the backlog (every issue)."
        )
        expect(page.locator("#tracker-pull")).to_have_text("Pull from Jira SHOP")
        expect(page.locator("#backlog tbody tr[data-id='2']")).to_contain_text("Payments SDK v2")
        site.age()  # a while later
        site.issues["SHOP-3"]["summary"] = "Dark mode everywhere"
        page.click("#tracker-pull")  # the next, only the issues changed since
        expect(page.locator("#flash")).to_contain_text(
            "0 imported, 1 updated from the tracker, 0 already in the backlog (the issues changed there since "
        )
        expect(page.locator("#tracker-state")).to_contain_text("(the issues changed since ")
        page.check("#tracker-full")
        page.click("#tracker-pull")
        expect(page.locator("#flash")).to_contain_text(
            "0 imported, 0 updated from the tracker, 3 already in the backlog (every issue)."
        )
        page.uncheck("#tracker-full")

        page.click("#tracker-hook-show")  # live updates: the webhook Jira is to send its changes to
        expect(page.locator("#tracker-hook .hook-url")).to_have_text(f"{desk}/v1/tracker/hook?project=default")
        secret = page.locator("#tracker-hook .hook-secret").inner_text()
        site.issues["SHOP-1"]["summary"] = "Payments SDK v3"
        event = json.dumps({"webhookEvent": "jira:issue_updated", "issue": {"key": "SHOP-1"}}).encode()
        signature = "sha256=" + hmac.new(secret.encode(), event, hashlib.sha256).hexdigest()
        heard = httpx.post(f"{desk}/v1/tracker/hook?project=default", content=event,
                           headers={"X-Hub-Signature": signature}, timeout=60)  # fmt: skip
        assert heard.status_code == 200 and heard.json()["detail"] == "jira:issue_updated: updated: title", heard.text
        page.click("#tracker-hook-show")
        expect(page.locator("#tracker-hook")).to_contain_text("SHOP-1 jira:issue_updated: updated: title")


def test_a_person_adds_an_item_and_is_shown_what_looks_alike_before_adding_it_anyway(page: Page, desk: str):
    visit(page, "/#backlog")
    expect(page.locator("#backlog tbody")).to_contain_text("add an item")
    page.fill("#reviewer", "pat@example.com")
    page.press("#reviewer", "Tab")
    page.click("#new-item summary")
    form = page.locator("#new-item-form")
    form.locator("[name=title]").fill("Export invoices as PDF")
    form.locator("[name=description]").fill("Accountants download each invoice as a PDF for their records.")
    form.locator("[name=item_type]").select_option("feature")
    form.locator("[name=labels]").fill("billing, export")
    form.locator("[name=story_points]").fill("3")
    form.locator("#new-item-submit").click()  # nothing alike yet: added at once
    expect(page.locator("#flash")).to_contain_text("Added #1 Export invoices as PDF. The quality check finds 2:")
    expect(page.locator("#flash")).to_contain_text("well-formed")  # no "As a ..." sentence
    expect(page.locator("#new-item")).not_to_have_attribute("open", "")
    row = page.locator("#backlog tbody tr", has_text="Export invoices as PDF")
    expect(row).to_contain_text("billing, export")
    expect(row).to_contain_text("3")
    page.click("#new-item summary")
    form.locator("[name=title]").fill("Download invoices as PDF files")
    form.locator("[name=description]").fill("Accountants want to download every invoice as a PDF for their records.")
    form.locator("#new-item-submit").click()  # alike: listed, and nothing added yet
    expect(form.locator(".similar-found")).to_contain_text("item #1 Export invoices as PDF")
    expect(form.locator("#new-item-submit")).to_have_text("Add anyway")
    assert len(httpx.get(f"{desk}/v1/backlog", timeout=60).json()) == 1
    form.locator("[name=title]").fill("Download invoices as PDF")  # a changed text is searched again
    expect(form.locator("#new-item-submit")).to_have_text("Add")
    expect(form.locator(".similar-found")).to_be_empty()
    form.locator("#new-item-submit").click()
    expect(form.locator("#new-item-submit")).to_have_text("Add anyway")
    form.locator("#new-item-submit").click()
    expect(page.locator("#flash")).to_contain_text("Added #2 Download invoices as PDF.")
    items = {i["title"]: i for i in httpx.get(f"{desk}/v1/backlog", timeout=60).json()}
    assert items["Export invoices as PDF"]["labels"] == ["billing", "export"]
    assert items["Export invoices as PDF"]["story_points"] == 3
    assert items["Download invoices as PDF"]["story_points"] is None  # the form was cleared after the first
    first = page.locator("#backlog tbody tr", has_text="Export invoices as PDF")
    first.locator(".item-title").click()
    first.locator(".item-history-button").click()
    expect(first.locator(".item-history li")).to_have_text(re.compile(r"^\S+ \S+ added by pat@example.com$"))


def test_the_backlog_tab_searches_and_filters_and_counts_what_matches(page: Page, desk: str):
    items = [
        {"title": "Export invoices to CSV", "labels": ["billing"], "external_id": "SHOP-1"},
        {"title": "Login loop on Safari", "type": "bug", "labels": ["auth"]},
        {"title": "Old invoice export", "labels": ["billing"], "closed": True},
    ]
    assert httpx.post(f"{desk}/v1/backlog/items", json=items, timeout=120).status_code == 201
    visit(page, "/#backlog")
    titles = page.locator("#backlog tbody .item-title")
    expect(titles).to_have_count(3)
    expect(page.locator("#backlog-count")).to_have_text("3 items")
    page.fill("#backlog-q", "invoice")  # as typed: applied after a pause
    expect(titles).to_have_count(2)
    expect(page.locator("#backlog-count")).to_have_text("2 items match")
    page.select_option("#backlog-state", "open")
    expect(titles).to_have_text(["Export invoices to CSV"])
    page.fill("#backlog-q", "shop-1")
    expect(page.locator("#backlog-count")).to_have_text("1 item matches")
    page.fill("#backlog-q", "")
    page.select_option("#backlog-state", "all")
    page.select_option("#backlog-type", "bug")
    expect(titles).to_have_text(["Login loop on Safari"])
    page.fill("#backlog-label", "billing")
    expect(page.locator("#backlog tbody .empty")).to_have_text("No item matches these filters.")
    page.select_option("#backlog-type", "")
    expect(titles).to_have_text(["Export invoices to CSV", "Old invoice export (closed)"])
    page.select_option("#backlog-state", "open")  # the export links export what is shown
    expect(titles).to_have_text(["Export invoices to CSV"])
    exported = page.request.get(page.get_attribute("a.export[href*=jira_csv]", "href")).text()
    assert [row["Summary"] for row in csv.DictReader(io.StringIO(exported))] == ["Export invoices to CSV"]


def test_a_views_filters_are_in_its_address_so_a_link_or_a_reload_shows_the_same_view(page: Page, llm: LLM, desk: str):
    items = [
        {"title": "Export invoices to CSV", "labels": ["billing"]},
        {"title": "Refund fails for PayPal", "type": "bug", "labels": ["billing"]},
        {"title": "Old invoice export", "labels": ["billing"], "closed": True},
    ]
    assert httpx.post(f"{desk}/v1/backlog/items", json=items, timeout=120).status_code == 201
    visit(page, "/#backlog?label=billing&state=open")  # a link someone sent
    titles = page.locator("#backlog tbody .item-title")
    expect(titles).to_have_text(["Export invoices to CSV", "Refund fails for PayPal"])
    expect(page.locator("#backlog-label")).to_have_value("billing")
    expect(page.locator("#backlog-state")).to_have_value("open")
    page.select_option("#backlog-type", "bug")
    expect(titles).to_have_text(["Refund fails for PayPal"])
    expect(page).to_have_url(f"{desk}/#backlog?type=bug&label=billing&state=open")  # follows the filters
    page.click("#backlog-filter .view-link")
    expect(page.locator("#flash")).to_contain_text(f"{desk}/?project=default#backlog?type=bug&label=billing&state=open")
    page.reload()
    page.wait_for_selector("body[data-ready]", state="attached")
    expect(titles).to_have_text(["Refund fails for PayPal"])  # the same view after a reload
    page.click("nav a[data-tab=review]")  # the review queue keeps its own
    llm.chat.replies.append(story_json(title="Dark mode"))
    assert httpx.post(f"{desk}/v1/drafts", json={"text": "a dark mode"}, timeout=120).status_code == 201
    visit(page, "/#review?status=rejected&kind=merge&assigned=nobody")  # a value not offered: its default
    expect(page.locator("#filter-status")).to_have_value("rejected")
    expect(page.locator("#filter-kind")).to_have_value("merge")
    expect(page.locator("#filter-assignee")).to_have_value("")
    expect(page.locator("#queue li")).to_have_count(0)
    page.select_option("#filter-status", "pending")
    page.select_option("#filter-kind", "")
    expect(page.locator("#queue li")).to_have_count(1)
    expect(page).to_have_url(f"{desk}/#review")  # the defaults: nothing to say
    page.click("nav a[data-tab=backlog]")
    expect(page).to_have_url(f"{desk}/#backlog?type=bug&label=billing&state=open")  # as left
    expect(titles).to_have_text(["Refund fails for PayPal"])


def test_a_saved_view_is_chosen_from_the_list_by_anyone_in_the_project_and_removed(page: Page, desk: str):
    items = [
        {"title": "Export invoices to CSV", "labels": ["billing"]},
        {"title": "Refund fails for PayPal", "type": "bug", "labels": ["billing"]},
    ]
    assert httpx.post(f"{desk}/v1/backlog/items", json=items, timeout=120).status_code == 201
    theirs = {"name": "Billing bugs", "tab": "backlog", "query": "type=bug&label=billing"}
    assert httpx.post(f"{desk}/v1/views", json=theirs, timeout=60).status_code == 201  # a teammate's
    visit(page, "/#backlog")
    titles = page.locator("#backlog tbody .item-title")
    expect(titles).to_have_count(2)
    views = page.locator("#backlog-filter .saved-views")
    expect(views.locator("option")).to_have_text(["Saved views…", "Billing bugs"])
    views.select_option(label="Billing bugs")
    expect(titles).to_have_text(["Refund fails for PayPal"])
    expect(page).to_have_url(f"{desk}/#backlog?type=bug&label=billing")
    page.select_option("#backlog-type", "")  # the filters changed: no saved view is shown any more
    expect(views).to_have_value("")
    expect(page.locator("#backlog-filter .remove-view")).to_be_hidden()
    page.once("dialog", lambda dialog: dialog.accept("Billing"))
    page.click("#backlog-filter .save-view")
    expect(page.locator("#flash")).to_contain_text('View "Billing" saved.')
    expect(views.locator("option")).to_have_text(["Saved views…", "Billing", "Billing bugs"])
    expect(views.locator("option:checked")).to_have_text("Billing")
    saved = {v["name"]: v["query"] for v in httpx.get(f"{desk}/v1/views", timeout=60).json()}
    assert saved == {"Billing": "label=billing", "Billing bugs": "type=bug&label=billing"}
    page.once("dialog", lambda dialog: dialog.accept())
    page.click("#backlog-filter .remove-view")
    expect(page.locator("#flash")).to_contain_text('View "Billing" removed.')
    expect(views.locator("option")).to_have_text(["Saved views…", "Billing bugs"])
    expect(page.locator("#tab-review .saved-views option")).to_have_text(["No saved views yet"])  # the queue's own
    starred = {"name": "Exports", "tab": "backlog", "query": "q=export*"}  # stored as q=export%2A: still marked
    assert httpx.post(f"{desk}/v1/views", json=starred, timeout=60).json()["query"] == "q=export%2A"
    visit(page, "/#backlog?q=export*")
    expect(views.locator("option:checked")).to_have_text("Exports")


def test_upload_shows_job_progress_and_a_bad_file_shows_what_to_fix(page: Page, tmp_path):
    tickets = tmp_path / "tickets.csv"
    tickets.write_text(
        "id,subject,description\n1,Login,I cannot log in since the update\n2,Export,Please add CSV export\n3,,\n"
    )
    visit(page, "/#upload")
    page.set_input_files("#upload-file", str(tickets))
    page.click("#upload-submit")
    expect(page.locator("#job .job-status")).to_have_text("done")
    expect(page.locator("#job .counts")).to_contain_text("2 of 3 tickets processed · 1 without text")
    expect(page.locator("#jobs tbody tr")).to_have_count(1)
    bad = tmp_path / "bad.csv"
    bad.write_text("when,who\n2024-01-01,pat\n")
    page.set_input_files("#upload-file", str(bad))
    page.click("#upload-submit")
    expect(page.locator("#flash.error")).to_contain_text("map")
    expect(page.locator("#jobs tbody tr")).to_have_count(1)


def test_priority_inputs_are_edited_in_the_page_and_the_backlog_shows_the_ranking(page: Page, llm: LLM, desk: str):
    from tests.test_prioritization_api import ITEMS, estimate

    blocked = {**ITEMS[0], "description": "Needs the new decoder: upgrade the image library first."}  # names item 3
    assert httpx.post(f"{desk}/v1/backlog/items", json=[blocked, *ITEMS[1:]], timeout=120).status_code == 201
    llm.chat.replies.extend(
        [estimate(reach=500, effort=2, depends_on=[3]), estimate(reach=100, effort=5), estimate(reach=50, effort=1)]
    )
    visit(page, "/#backlog")
    page.select_option("#prioritize-framework", "rice")
    page.click("#prioritize-submit")
    expect(page.locator("#prioritize-job .job-status")).to_have_text("done")
    expect(page.locator("#prioritize-job")).to_contain_text("3 of 3 items estimated")
    page.click("#prioritize-job a")
    expect(page.locator("#queue li")).to_have_count(3)
    expect(page.locator("#queue li .kind.priority")).to_have_count(3)
    # value vs effort: one point per priority, placed by its inputs; a point opens its suggestion
    points = page.locator("#priority-matrix .point")
    expect(points).to_have_count(3)
    expect(page.locator("#priority-matrix")).to_contain_text("Quick wins")
    third = httpx.get(f"{desk}/v1/suggestions?kind=priority", timeout=60).json()
    dark = next(s for s in third if s["payload"]["title"] == "Dark mode")
    page.locator(f"#priority-matrix .point[data-id='{dark['id']}']").click()
    expect(page.locator("#detail h2")).to_contain_text(f"#{dark['id']}")
    page.locator("#queue li", has_text="Fix crash on photo upload").click()
    expect(page.locator("#detail")).to_contain_text("RICE 500 x 1.0 x 0.8 / 2 = 200.0")
    expect(page.locator("#detail section.evidence")).to_contain_text("Estimated users per quarter.")
    expect(page.locator("#detail")).to_contain_text("proposed rank 2")  # after item 3, its proposed prerequisite
    expect(page.locator("#priority-form [name=depends_on]")).to_have_value("3")
    expect(page.locator("#dependency-evidence")).to_contain_text("Upgrade the image library")  # its evidence
    page.fill("#priority-form [name=effort]", "a lot")  # not a number: refused, saying which input, kept as typed
    page.click("#accept")
    expect(page.locator("#flash.error")).to_contain_text("effort")
    page.locator("#queue li", has_text="Dark mode").click()
    page.locator("#queue li", has_text="Fix crash on photo upload").click()
    expect(page.locator("#priority-form [name=effort]")).to_have_value("a lot")
    page.fill("#priority-form [name=effort]", "8")
    page.fill("#priority-form [name=depends_on]", "")  # the reviewer knows it is no prerequisite
    page.click("#accept")
    expect(page.locator("#flash")).to_contain_text("Accepted #2")
    for left in (2, 1):  # the rest by keyboard, as proposed
        expect(page.locator("#queue li")).to_have_count(left)
        page.keyboard.press("a")
    expect(page.locator("#queue li")).to_have_count(0)
    visit(page, "/#backlog")
    first = page.locator("#backlog tbody tr").first
    expect(first).to_contain_text("Fix crash on photo upload")
    expect(first).to_contain_text("50.00")  # 500 x 1.0 x 0.8 / 8 after the edit
    item = httpx.get(f"{desk}/v1/backlog/1", timeout=120).json()
    assert item["story_points"] == 8 and item["depends_on"] == [] and item["priority_rank"] == 1
    # a sprint plan from the backlog view opens in the queue: points 8 + 1 fit in 10, dependencies first
    page.fill("#plan-capacity", "10")
    page.click("#plan-submit")
    expect(page.locator("#detail h2")).to_contain_text("sprint plan")
    expect(page.locator("#detail")).to_contain_text("9 of 10 points")
    page.keyboard.press("a")
    expect(page.locator("#flash")).to_contain_text("Accepted #4")
    # a new item's priority suggestion shows the similar items the team has prioritized since
    new = {"title": "Crash when uploading a photo on Android", "type": "bug"}
    (created,) = httpx.post(f"{desk}/v1/backlog/items", json=[new], timeout=120).json()["created"]
    llm.chat.replies.append(estimate())
    started = httpx.post(f"{desk}/v1/prioritize", json={"framework": "rice", "item_ids": [created["id"]]}, timeout=60)
    job_url = f"{desk}{started.json()['status_url']}"
    while (job := httpx.get(job_url, timeout=60).json())["status"] in ("queued", "running"):
        time.sleep(0.1)
    visit(page, "/#review")
    page.reload()  # the queue as it is now
    page.locator("#queue li", has_text="Crash when uploading").click()
    comparables = page.locator("#detail section.evidence table", has_text="Fix crash on photo upload")
    expect(comparables).to_contain_text("Highest")
    expect(page.locator("#detail section.evidence")).to_contain_text("Similar items the team already prioritized")
    assert job["status"] == "done"
    # the same item estimated by a second run: the matrix shows the later run's point; the earlier one is stale
    earlier = httpx.get(f"{desk}/v1/suggestions?kind=priority&status=pending", timeout=60).json()
    llm.chat.replies.append(estimate(reach=900))
    started = httpx.post(f"{desk}/v1/prioritize", json={"framework": "rice", "item_ids": [created["id"]]}, timeout=60)
    job_url = f"{desk}{started.json()['status_url']}"
    while (job := httpx.get(job_url, timeout=60).json())["status"] in ("queued", "running"):
        time.sleep(0.1)
    page.reload()
    expect(page.locator("#queue li", has_text="Crash when uploading")).to_have_count(2)
    expect(page.locator("#priority-matrix .point")).to_have_count(1)
    expect(page.locator("#priority-matrix")).to_contain_text("1 made for the same items by an earlier run is not shown")
    refused = httpx.post(f"{desk}/v1/suggestions/{earlier[0]['id']}/accept", json={}, timeout=60)
    assert refused.status_code == 409 and "a later prioritize run made suggestion" in refused.json()["detail"]


def test_a_priority_suggestion_says_what_the_teams_own_priorities_suggest(page: Page, llm: LLM, desk: str, monkeypatch):
    from tests.test_prioritization_api import estimate

    monkeypatch.setattr("pipelines.prioritization.TEAM_MIN_ITEMS", 15)
    history = [
        {"title": f"{title} {n}", "type": "bug", "priority": priority}
        for n in range(5)
        for title, priority in (("Payment outage stops orders in region", "Blocker"), ("Add an export option to report",
            "Major"), ("Spelling on the about page, paragraph", "Trivial"))
    ]  # fmt: skip
    history.append({"title": "Payment outage stops orders", "type": "bug"})
    created = httpx.post(f"{desk}/v1/backlog/items", json=history, timeout=120).json()["created"]
    llm.chat.replies.append(estimate(time_criticality=1))
    started = httpx.post(
        f"{desk}/v1/prioritize", json={"framework": "wsjf", "item_ids": [created[-1]["id"]]}, timeout=60
    )
    job_url = f"{desk}{started.json()['status_url']}"
    while (job := httpx.get(job_url, timeout=60).json())["status"] in ("queued", "running"):
        time.sleep(0.1)
    assert job["status"] == "done", job
    visit(page, "/#review")
    page.locator("#queue li", has_text="Payment outage stops orders").click()
    evidence = page.locator("#detail section.evidence")
    expect(evidence).to_contain_text("The team's own priorities (15 decided items) suggest Blocker")
    expect(evidence).to_contain_text("Adjusted: the team's own priorities")  # in the time criticality's rationale


def test_an_upload_becomes_themes_whose_evidence_is_shown_and_accepted(page: Page, llm: LLM, desk: str, tmp_path):
    from tests.test_ingest import theme_reply, tickets_csv

    dark_mode = {"title": "Dark mode", "description": "A dark theme for night use."}
    assert httpx.post(f"{desk}/v1/backlog/items", json=dark_mode, timeout=120).status_code == 201
    llm.chat.replies.append(theme_reply())
    path = tmp_path / "freshdesk.csv"
    path.write_bytes(tickets_csv())
    visit(page, "/#upload")
    page.fill("#upload-product", "photo sharing app")
    page.set_input_files("#upload-file", str(path))
    page.click("#upload-submit")
    expect(page.locator("#job .job-status")).to_have_text("done")
    expect(page.locator("#job .counts")).to_contain_text("10 of 11 tickets processed · 1 without text")
    expect(page.locator("#job .counts")).to_contain_text("2 themes · 0 unthemed")
    expect(page.locator("#job .counts")).to_contain_text("2 suggestions · 1 LLM calls")
    # each theme's tickets per week: 4 tickets each, on 4 different weeks
    expect(page.locator("#themes tbody tr")).to_have_count(2)
    expect(page.locator("#themes tbody tr").first.locator(".bar")).to_have_count(4)
    expect(page.locator("#themes")).to_contain_text("Fix the crash when uploading photos")
    page.click("#job a[href='#review']")
    page.select_option("#filter-kind", "evidence")
    expect(page.locator("#queue li")).to_have_count(1)
    evidence = page.locator("#detail section.evidence")
    expect(evidence).to_contain_text("4 tickets · 4 customers")
    expect(evidence.locator(".quotes li")).not_to_have_count(0)
    page.select_option("#filter-kind", "story_draft")
    expect(page.locator("#detail section.evidence .quotes")).to_contain_text("Uploading a picture makes the app crash")
    expect(page.locator("#detail .warnings")).to_contain_text("a quote no customer ever wrote")
    expect(page.locator("#detail .input .tickets li")).not_to_have_count(0)
    assert page.locator("#regenerate").count() == 0  # a theme draft is redrafted by ingesting, not from text
    page.select_option("#filter-kind", "evidence")
    expect(page.locator("#detail h2")).to_contain_text("evidence")  # the filtered queue is shown before deciding
    page.keyboard.press("a")
    expect(page.locator("#flash")).to_contain_text("Accepted")
    visit(page, "/#backlog")
    expect(page.locator("#backlog tbody tr").first).to_contain_text("4 tickets, 4 customers")


def two_pending_estimates(desk: str) -> None:
    """Three items, one with points; the other two estimated from it (no model call): suggestions #1 and #2."""
    history = {"title": "Reset a forgotten password", "description": "By email.", "story_points": 2}
    items = [{"title": f"Reset a forgotten {what}", "description": "By email."} for what in ("PIN", "passphrase")]
    created = httpx.post(f"{desk}/v1/backlog/items", json=[history, *items], timeout=120)
    assert created.status_code == 201, created.text
    for made in created.json()["created"][1:]:
        assert httpx.post(f"{desk}/v1/backlog/{made['id']}/estimate", timeout=120).status_code == 201


def test_a_reviewer_accepts_an_estimate_with_the_points_the_team_settled_on(page: Page, desk: str):
    """Review tab and Refine tab: the estimate's points are a choice on the scale; accepting another value writes it,
    and the Backlog tab's estimates line counts it as changed."""
    two_pending_estimates(desk)
    visit(page, "/#review")
    page.select_option("#filter-kind", "estimate")
    choice = page.locator("#detail .estimate .points-choice")
    expect(choice).to_have_value("2")
    choice.select_option("3")
    page.click("#accept")
    expect(page.locator("#flash")).to_contain_text("Accepted #1 with 3 points")
    wider = [{"title": f"Reset a forgotten {w}", "description": "By SMS.", "story_points": 8} for w in ("code", "key")]
    extra = httpx.post(
        f"{desk}/v1/backlog/items", json=[*wider, {"title": "Reset a forgotten hint", "description": "By email."}]
    )
    third = extra.json()["created"][-1]["id"]
    assert httpx.post(f"{desk}/v1/backlog/{third}/estimate", timeout=120).status_code == 201
    visit(page, "/#refine")
    estimates = page.locator("#refine-queue article.suggestion.estimate")
    expect(estimates).to_have_count(2)
    estimates.nth(1).locator(".points-choice").select_option("13")
    pending = httpx.get(f"{desk}/v1/suggestions", params={"kind": "estimate", "status": "pending"}, timeout=60).json()
    ranged = [s for s in pending if s["payload"]["low"] != s["payload"]["high"]]  # a range shown beside the points
    assert len(ranged) == 1, pending  # the third item's comparables have 2, 3 and 8 points
    expect(page.locator("#refine-queue article.estimate .likely")).to_have_count(1)
    for s in ranged:
        said = f"(likely {s['payload']['low']}-{s['payload']['high']})"
        expect(page.locator(f"#refine-queue article[data-id='{s['id']}'] .likely")).to_have_text(said)
    estimates.nth(0).locator("button.accept").click()  # as suggested; the queue reloads and keeps the choice made
    expect(page.locator("#flash")).to_contain_text("Accepted estimate #")
    expect(estimates).to_have_count(1)
    expect(estimates.locator(".points-choice")).to_have_value("13")
    estimates.locator("button.accept").click()
    expect(page.locator("#flash")).to_contain_text("is 13 points")
    points = [i["story_points"] for i in httpx.get(f"{desk}/v1/backlog", timeout=60).json()]
    assert None not in points and {3, 8, 13} <= set(points), points
    visit(page, "/#backlog")
    learned = page.locator("#estimate-learning")
    expect(learned).to_contain_text("Reviewers kept 1 estimate as suggested and changed 2 (0 lower, 2 higher")


def test_a_slow_reload_does_not_overwrite_the_queue_a_filter_asked_for(page: Page, desk: str):
    """The queue's first load (every kind) answers after the load a filter change started: the filtered list stays,
    and a decision made meanwhile is not held up by the outdated load."""
    two_pending_estimates(desk)
    held: list[Route] = []
    first_load = re.compile(r"/v1/suggestions\?limit=200&status=pending$")  # every kind, the default status
    page.route(first_load, lambda route: route.continue_() if held else held.append(route))  # hold only the first
    visit(page, "/#review")
    for _ in range(200):  # until the first load reaches the route and is held there
        if held:
            break
        page.wait_for_timeout(50)
    assert len(held) == 1
    page.select_option("#filter-kind", "estimate")
    expect(page.locator("#queue li")).to_have_count(2)
    page.keyboard.press("r")
    expect(page.locator("#reject-reason")).to_be_focused()
    page.keyboard.type("too rough")
    page.keyboard.press("Enter")  # the first load is still out: it will not be drawn, so it does not hold this up
    expect(page.locator("#flash")).to_contain_text("Rejected #1")
    expect(page.locator("#queue li")).to_have_count(1)
    with page.expect_response(first_load):
        held[0].continue_()
    page.wait_for_timeout(500)  # what the late reply (two pending estimates) would have drawn, had it been drawn
    assert page.locator("#queue li").count() == 1


def test_a_decision_made_while_the_queue_reloads_waits_for_it_and_stands_only_on_what_is_still_shown(
    page: Page, desk: str
):
    """Enter pressed while a filter's reload is out is neither lost nor applied blindly: once the reload is drawn,
    the rejection goes ahead if its suggestion is still shown and pending, and is refused, saying so, if not."""
    two_pending_estimates(desk)
    visit(page, "/#review")
    expect(page.locator("#queue li")).to_have_count(2)
    held: list[Route] = []
    for kind, said, pending in (("estimate", "Rejected #1", 1), ("merge", "The queue changed while it reloaded", 1)):
        held.clear()
        reload = re.compile(rf"/v1/suggestions\?limit=200&kind={kind}&status=pending$")
        page.route(reload, lambda route: held.append(route))
        page.select_option("#filter-kind", kind)
        for _ in range(200):  # until the reload reaches the route and is held there
            if held:
                break
            page.wait_for_timeout(50)
        assert len(held) == 1
        page.keyboard.press("r")
        expect(page.locator("#reject-reason")).to_be_focused()
        page.keyboard.type("too rough")
        page.keyboard.press("Enter")
        page.wait_for_timeout(300)
        assert "Rejected" not in page.locator("#flash").inner_text()  # nothing decided while the reload is out
        held[0].continue_()
        expect(page.locator("#flash")).to_contain_text(said)
        page.unroute(reload)
        statuses = httpx.get(f"{desk}/v1/suggestions", params={"status": "pending"}, timeout=30).json()
        assert len(statuses) == pending


def test_feedback_in_no_theme_is_listed_with_the_evidence_proposed_for_it(page: Page, llm: LLM, desk: str, tmp_path):
    from tests.test_ingest import CRASH, SINGLES, theme_reply

    item = {"title": "Export invoices to CSV", "description": "Export invoices to CSV"}
    assert httpx.post(f"{desk}/v1/backlog/items", json=item, timeout=120).status_code == 201
    llm.chat.replies.append(theme_reply())
    path = tmp_path / "tickets.csv"
    path.write_text("Ticket ID,Description\n" + "".join(f'T-{i},"{t}"\n' for i, t in enumerate(CRASH + SINGLES)))
    visit(page, "/#upload")
    page.set_input_files("#upload-file", str(path))
    page.click("#upload-submit")
    expect(page.locator("#job .job-status")).to_have_text("done")
    expect(page.locator("#job .counts")).to_contain_text("2 unthemed (bugs, requests, questions in no theme; 1 prop")
    table = page.locator("#unthemed")
    expect(table.locator("caption")).to_contain_text("1 proposed as evidence for a backlog item")
    expect(table.locator("tbody tr")).to_have_count(2)
    row = table.locator("tbody tr", has_text="export my invoices")
    row.locator("a").click()
    expect(page.locator("#detail h2")).to_contain_text("evidence")
    expect(page.locator("#detail")).to_contain_text("Export invoices to CSV")


def test_refine_tab_runs_a_refinement_marks_the_spans_and_accepts_a_rewrite(page: Page, llm: LLM, desk: str):
    vague = {"title": "Fast search", "description": "Search should be fast and user-friendly.", "external_id": "V"}
    clear = {  # no findings; no points, so it is estimated from the one item that has points: no model call
        "title": "Download last month's invoices as one PDF",
        "description": "As a billing admin, I want to download last month's invoices as one PDF, so that I can send "
        "them to the accountant in one email.\n\n**Acceptance criteria**\n"
        "- [ ] Given invoices exist, when I choose Download all, then one PDF with every invoice downloads\n"
        "- [ ] Given no invoices exist, when I choose Download all, then I am told there is nothing to download",
        "external_id": "C",
    }
    pointed = {
        "title": "Reset a forgotten password",
        "description": "As a shopper, I want to reset a forgotten password by email, so that I can sign in again.\n\n"
        "- [ ] Given a known email, when I ask for a reset, then a reset link arrives within a minute\n"
        "- [ ] Given an expired link, when I open it, then I am asked to request a new one",
        "story_points": 2,
        "external_id": "P",
    }
    created = httpx.post(f"{desk}/v1/backlog/items", json=[clear, vague, pointed], timeout=120)
    assert created.status_code == 201, created.text
    clear_id, vague_id, _ = [i["id"] for i in created.json()["created"]]
    llm.chat.replies.append(story_json(title="Search results within two seconds"))  # the one rewrite

    visit(page, "/")
    page.fill("#reviewer", "pat@example.com")
    page.press("#reviewer", "Tab")
    page.click("nav a[data-tab=refine]")
    page.click("#refine-run")
    expect(page.locator("#refine-job .job-status")).to_have_text("done")
    expect(page.locator("#refine-job .counts")).to_contain_text("3 of 3 items refined")
    expect(page.locator("#refine-job .counts")).to_contain_text("3 suggestions")  # a rewrite and two estimates

    entries = page.locator("#refine-queue > li.refine-entry")
    expect(entries).to_have_count(2)  # the item with points and no findings needs nothing
    first, second = entries.nth(0), entries.nth(1)
    expect(first.locator(".item-title")).to_have_text("Fast search")  # most findings first
    expect(second.locator(".item-title")).to_have_text(clear["title"])
    expect(second.locator(".finding-count")).to_have_text("0 findings")
    expect(second.locator(".item-text strong")).to_have_text("Acceptance criteria")  # its Markdown, as read
    expect(second.locator(".item-text")).to_contain_text("☐ Given invoices exist, when I choose Download all")
    expect(first.locator(".item-text mark.unambiguous").first).to_have_text(re.compile("^fast$", re.I))
    user_friendly = first.locator(".item-text mark", has_text="user-friendly")
    expect(user_friendly).to_have_attribute("title", re.compile("^unambiguous: 'user-friendly' means"))
    expect(first.locator(".findings")).to_contain_text("no acceptance criteria")
    rewrite = first.locator("article.suggestion.rewrite")
    expect(rewrite.locator(".story-title")).to_contain_text("Search results within two seconds")
    expect(rewrite.locator(".statement")).to_contain_text("As a online shopper, I want to filter search results")
    expect(rewrite.locator(".open-questions")).to_contain_text("Should the filter also apply to sale prices?")
    estimate = first.locator("article.suggestion.estimate")
    expect(estimate.locator(".points")).to_have_text("2 points")
    expect(estimate.locator("table")).to_contain_text("Reset a forgotten password")

    # a single-item action that is not needed says so; then the clear item's estimate is rejected with a reason
    second.locator("button.suggest-split").click()
    expect(page.locator("#flash")).to_contain_text("no split needed")
    second.locator("article.estimate .reject").click()
    expect(page.locator("#flash")).to_contain_text("Say why")
    second.locator("article.estimate .reject-reason").fill("we estimate this in planning")
    second.locator("article.estimate .reject-reason").press("Enter")
    expect(page.locator("#flash")).to_contain_text("Rejected estimate")
    expect(entries).to_have_count(1)
    page.click("#flash button.undo")  # undone: pending again, the item back in the queue; then rejected for good
    expect(page.locator("#flash")).to_contain_text("is pending again")
    expect(entries).to_have_count(2)
    entries.nth(1).locator("article.estimate .reject-reason").fill("we estimate this in planning")
    entries.nth(1).locator("article.estimate .reject-reason").press("Enter")
    expect(entries).to_have_count(1)

    # a comment on the item after the rewrite was made: marked; "Suggest rewrite" makes it again with the comment
    said = {"text": "Search means product names and SKUs."}
    assert httpx.post(f"{desk}/v1/backlog/{vague_id}/comments", json=said, timeout=60).status_code == 201
    page.click("#refine-reload")
    expect(rewrite.locator(".badge.thread-changed")).to_have_text("new comments")
    llm.chat.replies.append(story_json(title="Search results within two seconds"))
    first.locator("button.suggest-rewrite").click()
    expect(page.locator("#flash")).to_contain_text("Rewrite suggestion")
    expect(rewrite.locator(".badge.thread-changed")).to_have_count(0)
    expect(rewrite.locator(".read-comments")).to_have_text("Made with the item's 1 comment.")
    # an open question answered in the item's thread: the rewrite is made again with the answer
    answer = rewrite.get_by_label("Answer: Should the filter also apply to sale prices?")
    answer.fill("Yes, sale prices too.")
    llm.chat.replies.append(story_json(title="Search results within two seconds"))
    answer.press("Enter")
    expect(page.locator("#flash")).to_contain_text(f"Answered in item #{vague_id}'s thread; rewrite #")
    expect(rewrite.locator(".read-comments")).to_have_text("Made with the item's 2 comments.")
    thread = httpx.get(f"{desk}/v1/backlog/{vague_id}/comments", timeout=60).json()
    assert thread[-1]["text"] == "Q: Should the filter also apply to sale prices?\nA: Yes, sale prices too."
    assert thread[-1]["author"] == "pat@example.com"

    # accepting the rewrite changes the item; its estimate was made from the old text, so it is stale
    rewrite.locator("button.accept").click()
    expect(page.locator("#flash")).to_contain_text('now reads "Search results within two seconds"')
    expect(page.locator("#flash button.undo")).to_have_count(1)  # a rewrite's acceptance can be undone too
    assert (
        httpx.get(f"{desk}/v1/backlog/{vague_id}", timeout=120).json()["title"] == "Search results within two seconds"
    )
    stale = page.locator(f"#refine-queue li[data-id='{vague_id}'] article.estimate")
    expect(stale.locator(".badge.stale")).to_have_text("stale")
    stale.locator("button.accept").click()
    expect(page.locator("#flash.error")).to_contain_text("stale")
    history = httpx.get(f"{desk}/v1/suggestions?kind=rewrite", timeout=120).json()
    assert history[0]["status"] == "accepted" and history[0]["decided_by"] == "pat@example.com"
    assert httpx.get(f"{desk}/v1/backlog/{clear_id}", timeout=120).json()["story_points"] is None

    # the generic review queue lists refinement kinds too, rendered from their payloads
    page.click("nav a[data-tab=review]")
    page.select_option("#filter-kind", "estimate")
    expect(page.locator("#queue li")).to_have_count(1)
    expect(page.locator("#detail .estimate .points")).to_have_text("2 points")
    page.select_option("#filter-status", "accepted")
    page.select_option("#filter-kind", "rewrite")
    expect(page.locator("#detail .input .read-comments")).to_contain_text("with its 2 comments (thread)")


def test_the_definition_of_ready_chooses_what_the_refine_queue_finds(page: Page, desk: str):
    from tests.test_refinement_api import VAGUE

    assert httpx.post(f"{desk}/v1/backlog/items", json=[VAGUE], timeout=120).status_code == 201
    visit(page, "/#refine")
    entry = page.locator("#refine-queue > li.refine-entry")
    expect(entry.locator(".item-text mark.unambiguous").first).to_be_visible()
    summary = page.locator("#readiness summary")
    expect(summary).to_have_text("Definition of ready: every criterion checked, at most 8 points")
    summary.click()
    page.locator("#readiness-form input[value=unambiguous]").uncheck()
    page.fill("#readiness-form [name=max_points]", "5")
    page.click("#readiness-save")
    expect(page.locator("#flash")).to_contain_text("Definition of ready saved: 6 criteria, at most 5 points.")
    expect(summary).to_have_text("Definition of ready: 6 of 7 criteria checked, at most 5 points")
    expect(entry.locator(".item-text mark.unambiguous")).to_have_count(0)  # the queue follows it
    expect(page.locator("#readiness-form input[value=unambiguous]")).not_to_be_checked()
    assert httpx.get(f"{desk}/v1/refine/readiness", timeout=60).json()["not_checked"] == ["unambiguous"]


def test_an_estimate_the_teams_words_joined_shows_what_they_suggest(page: Page, desk: str, monkeypatch):
    monkeypatch.setattr("pipelines.estimate.WORDS_MIN_ITEMS", 6)  # the server runs in this process
    history = [
        {"title": f"Migrate the payment provider for {market}", "description": "Payments move.", "story_points": 13}
        for market in ("France", "Spain", "Italy")
    ] + [{"title": f"Export {what} to CSV", "description": "A CSV export.", "story_points": 2} for what in "ABC"]
    item = {"title": "Migrate the payment provider for Peru", "description": "Payments move."}
    created = httpx.post(f"{desk}/v1/backlog/items", json=[*history, item], timeout=120)
    assert created.status_code == 201, created.text
    item_id = created.json()["created"][-1]["id"]
    poker = {"text": "Planning poker: 8 points from me."}
    assert httpx.post(f"{desk}/v1/backlog/{item_id}/comments", json=poker, headers={"X-User": "ana"}).is_success
    made = httpx.post(f"{desk}/v1/backlog/{item_id}/estimate", timeout=120).json()
    assert made["evidence"]["team_words"]["items"] == 6 and made["evidence"]["team_words"]["likely"][0]["points"] == 13

    team_words = re.compile(r"^Team's words \(learned from 6 items with points\): 13 \(\d+%\)(, \d+ \(\d+%\))*$")
    visit(page, "/#refine")
    estimate = page.locator(f"#refine-queue li[data-id='{item_id}'] article.estimate")
    expect(estimate.locator(".team-words")).to_have_text(team_words)
    expect(estimate.locator("table")).to_contain_text("Migrate the payment provider")  # beside the comparables
    expect(estimate.locator(".thread-points")).to_have_text("The item's comments say: 8 points (ana).")
    page.click("nav a[data-tab=review]")
    page.select_option("#filter-kind", "estimate")
    expect(page.locator("#detail .estimate .team-words")).to_have_text(team_words)
    expect(page.locator("#detail section.evidence")).to_contain_text("shown with the estimate below")


def test_labels_suggested_in_the_refine_queue_are_added_as_the_reviewer_ticks_them(page: Page, desk: str):
    history = [
        {"title": f"Export {w} invoices to CSV", "description": "Finance exports them.", "labels": ["billing", "csv"]}
        for w in ("paid", "open", "overdue")
    ] + [
        {"title": "Email invoices to customers", "description": "Invoices go out.", "labels": ["billing"]},
        {"title": "Dark mode for the mobile app", "description": "Night theme.", "labels": ["mobile"]},
    ]
    item = {"title": "Export refunded invoices to CSV", "description": "Finance exports invoices.", "story_points": 2}
    created = httpx.post(f"{desk}/v1/backlog/items", json=[*history, item], timeout=120)
    assert created.status_code == 201, created.text
    item_id = created.json()["created"][-1]["id"]
    visit(page, "/#refine")
    entry = page.locator(f"#refine-queue li[data-id='{item_id}']")  # listed for its findings (no persona, no criteria)
    entry.locator("button.suggest-labels").click()
    expect(page.locator("#flash")).to_contain_text(f"for item #{item_id} is ready")
    view = entry.locator("article.labels")
    expect(view.locator(".label-choice")).to_have_count(2)
    expect(view.locator(".label-choices")).to_contain_text("billing")
    expect(view.locator(".label-choices")).to_contain_text("csv")
    expect(view.locator("table")).to_contain_text("Export paid invoices to CSV")
    view.locator(".label-choice[data-label='csv']").uncheck()
    view.locator("button.accept").click()
    expect(page.locator("#flash")).to_contain_text(f"item #{item_id} is labelled billing")
    assert httpx.get(f"{desk}/v1/backlog/{item_id}", timeout=60).json()["labels"] == ["billing"]


def test_a_draft_offers_the_labels_its_similar_items_agree_on(page: Page, llm: LLM, desk: str):
    history = [
        {"title": f"Export {w} invoices to CSV", "description": "Finance exports them.", "labels": ["billing"]}
        for w in ("paid", "open", "overdue", "refunded")
    ] + [{"title": "Dark mode for the mobile app", "description": "Night theme.", "labels": ["mobile"]}]
    assert httpx.post(f"{desk}/v1/backlog/items", json=history, timeout=120).status_code == 201
    llm.chat.replies.append(story_json(title="Export credit note invoices to CSV", labels=["csv"]))
    visit(page, "/")
    draft_idea(page, "finance wants to export credit note invoices to CSV")
    offered = page.locator("#story-form .team-labels button.add-label")
    expect(offered).to_have_text(["+ billing"])
    new_here = page.locator("#story-form .new-labels")
    expect(new_here).to_have_text("New to this project: csv (no item has it yet)")
    offered.click()
    offered.click()  # a label already there is not added twice
    assert page.input_value("#story-form [name=labels]") == "csv, billing"
    expect(new_here).to_have_text("New to this project: csv (no item has it yet)")  # billing is the team's
    page.click("#accept")
    expect(page.locator("#flash")).to_contain_text("with your edits")
    items = httpx.get(f"{desk}/v1/backlog", timeout=60).json()
    assert [i["labels"] for i in items if i["title"] == "Export credit note invoices to CSV"] == [["csv", "billing"]]
    page.click("nav a[data-tab=backlog]")  # the label filter offers the labels in use, most used first
    options = page.locator("#project-labels option")
    expect(options).to_have_count(3)
    assert [options.nth(n).get_attribute("value") for n in range(3)] == ["billing", "csv", "mobile"]


def test_an_estimate_the_teams_model_joined_shows_what_it_said(page: Page, desk: str, tmp_path: Path, monkeypatch):
    monkeypatch.setattr("service.refinement.points_model.MIN_ITEMS", 6)  # the server runs in this process
    history = [
        {"title": f"Migrate the {w} database to the new cluster", "description": "Move it.", "story_points": 13}
        for w in ("billing", "orders", "search")
    ] + [{"title": f"Fix a typo in the {w} footer", "description": "A typo.", "story_points": 1} for w in "ABC"]
    items = [{"title": f"Migrate the {w} database to the new cluster", "description": "Move it."} for w in "XY"]
    created = httpx.post(f"{desk}/v1/backlog/items", json=[*history, *items], timeout=120)
    assert created.status_code == 201, created.text
    first, second = (c["id"] for c in created.json()["created"][-2:])
    known = created.json()["created"][0]["id"]  # an item with points: the fit learns from it
    made = httpx.post(f"{desk}/v1/backlog/{first}/estimate", timeout=120).json()
    assert made["evidence"] == {"team_model_fitting": True}
    visit(page, "/#refine")
    fitting = page.locator(f"#refine-queue li[data-id='{first}'] article.estimate .team-model")
    expect(fitting).to_have_text(re.compile(r"^The team's own model is being fitted"))
    deadline = time.monotonic() + 120
    while not list(tmp_path.glob("points-models/*/0*/points-model.pt")) and time.monotonic() < deadline:
        time.sleep(0.5)
    later = httpx.post(f"{desk}/v1/backlog/{second}/estimate", timeout=120).json()
    said = later["evidence"]["team_model"]
    assert "team_model_left_out" in httpx.post(f"{desk}/v1/backlog/{known}/estimate", timeout=120).json()["evidence"]
    page.reload()  # the same address: a visit would not load the queue again
    page.wait_for_selector("body[data-ready]", state="attached")
    note = page.locator(f"#refine-queue li[data-id='{second}'] article.estimate .team-model")
    expect(note).to_have_text(
        f"Team's own model (fine-tuned on 6 items with points): {said['points']:.1f} points; the comparables said "
        f"{said['rule_points']}; the estimate is their geometric mean."
    )
    left_out = page.locator(f"#refine-queue li[data-id='{known}'] article.estimate .team-model")
    expect(left_out).to_have_text("The team's own model is left out: it learned from this item's own points.")
    page.click("nav a[data-tab=backlog]")  # what the points model learned, and "Fit again"
    line = page.locator("#estimate-learning")
    expect(line).to_contain_text("6 items with points; the team's own points model is fitted on 6 items with points")
    page.once("dialog", lambda dialog: dialog.accept())
    line.get_by_role("button", name="Fit again").click()
    expect(page.locator("#flash")).to_contain_text("The team's points model is being fitted again.")
    deadline = time.monotonic() + 120
    while httpx.get(f"{desk}/v1/estimates/learning", timeout=120).json()["fitting"] and time.monotonic() < deadline:
        time.sleep(0.5)
    page.click("nav a[data-tab=review]")
    page.click("nav a[data-tab=backlog]")
    expect(line).to_contain_text("the team's own points model is fitted on 6 items with points")


MEETING = """Anna: Let's settle the invoice export before lunch.
Ben: Invoices will be exported as one PDF per month.
Anna: And the export must include the VAT number on every page.
Ben: Who signs off the PDF layout? Nobody knows yet.
Anna: Actually, drop the one PDF per month plan, finance wants single invoices.
"""


def meeting_notes(invoices_id: int) -> str:
    """The model's notes on MEETING: a decision, a change to the invoices item, an open question, and an action
    item whose only quote nobody said (dropped with it); no new work."""
    return json.dumps({
        "decisions": [{"decision": "Invoices are exported as one PDF per month.", "decided_by": "Ben",
                       "quotes": [{"turn": 1, "text": "Invoices will be exported as one PDF per month"}]}],
        "action_items": [{"task": "Draft the PDF layout.", "owner": "Ben",
                          "quotes": [{"turn": 3, "text": "I will draft the layout tonight"}]}],
        "new_work": [],
        "changes": [{"item": invoices_id, "change": "criteria", "detail": "Every page of the PDF shows the VAT number.",
                     "quotes": [{"turn": 2, "text": "the export must include the VAT number on every page"}]}],
        "open_questions": [{"question": "Who signs off the PDF layout?",
                            "quotes": [{"turn": 3, "text": "Who signs off the PDF layout?"}]}],
    })  # fmt: skip


@pytest.mark.parametrize("llm", [{"delay_s": 0.05}], indirect=True, ids=["slow-model"])
def test_a_meeting_upload_shows_what_was_said_in_order_and_accepting_a_change_edits_the_item(
    page: Page, llm: LLM, desk: str, tmp_path
):
    items = [
        {"title": "Export invoices as PDF", "description": "Billing admins export invoices.", "external_id": "INV"},
        {"title": "Dark mode", "description": "A dark theme for night use.", "external_id": "DARK"},
    ]
    created = httpx.post(f"{desk}/v1/backlog/items", json=items, timeout=120)
    assert created.status_code == 201, created.text
    invoices_id, dark_id = [item["id"] for item in created.json()["created"]]
    llm.chat.replies.append(meeting_notes(invoices_id))
    path = tmp_path / "planning.txt"
    path.write_text(MEETING)

    visit(page, "/#meetings")
    page.set_input_files("#meeting-file", str(path))
    page.select_option("#meeting-format", "text")
    page.fill("#meeting-title", "Invoice planning")
    page.click("#meeting-submit")
    expect(page.locator("#meeting-job .progress-line")).to_have_text("chunk 1 of 1")  # the model is still writing
    expect(page.locator("#meeting-job .job-status")).to_have_text("done")
    expect(page.locator("#meeting-job .counts")).to_contain_text("2 suggestions · 4 quotes checked · 1 quote dropped")
    expect(page.locator("#meeting-job .warnings")).to_contain_text("I will draft the layout tonight")

    view = page.locator("#meeting-view")
    expect(view.locator(".meeting-title")).to_have_text("Invoice planning")
    rows = view.locator("#meeting-summary > li")
    expect(rows.locator(".row-kind")).to_have_text(["Decision", f"Change to #{invoices_id}", "Open question"])
    decision, change, question = rows.nth(0), rows.nth(1), rows.nth(2)
    expect(decision.locator(".row-text")).to_have_text("Invoices are exported as one PDF per month.")
    said = 'Ben (line 1): "Invoices will be exported as one PDF per month"'
    expect(decision.locator(".quotes li")).to_have_text([said])
    expect(decision.locator(".status")).to_have_text("pending")
    expect(decision.locator(".warnings")).to_contain_text("line 4 (Anna) may rule this out")  # the last line
    assert change.locator(".warnings").count() == 0
    expect(change.locator(".row-text")).to_have_text("Every page of the PDF shows the VAT number.")
    expect(change.locator(".row-details")).to_contain_text("Export invoices as PDF")
    expect(change.locator(".quotes li")).to_have_text(
        ['Anna (line 2): "the export must include the VAT number on every page"']
    )
    expect(question.locator(".row-text")).to_have_text("Who signs off the PDF layout?")
    expect(question.locator(".quotes li")).to_have_text(['Ben (line 3): "Who signs off the PDF layout?"'])
    assert question.locator("button").count() == 0  # an open question is no suggestion
    expect(view.locator("#meeting-summary")).not_to_contain_text("Action item")

    # rejecting needs a reason; accepting the change appends it to the item and the row shows it accepted
    decision.locator("button.reject").click()
    expect(page.locator("#flash")).to_contain_text("Say why")
    change.locator("button.accept").click()
    expect(page.locator("#flash")).to_contain_text("Accepted item change")
    change = view.locator("#meeting-summary > li").nth(1)
    expect(change.locator(".status")).to_have_text("accepted")
    outcome = f'item #{invoices_id} "Export invoices as PDF" now has the change'
    expect(change.locator(".outcome")).to_contain_text(outcome)
    assert change.locator("button.accept").count() == 0
    assert change.locator("button.undo").count() == 0  # a change to an item is not undone here
    decision = view.locator("#meeting-summary > li").nth(0)
    decision.locator(".reject-reason").fill("not decided yet")
    decision.locator("button.reject").click()
    expect(decision.locator(".status")).to_have_text("rejected")
    view.locator("#meeting-summary > li").nth(0).locator("button.undo").click()  # a rejection is undone
    expect(page.locator("#flash")).to_contain_text("is pending again")
    expect(view.locator("#meeting-summary > li").nth(0).locator(".status")).to_have_text("pending")
    item = httpx.get(f"{desk}/v1/backlog/{invoices_id}", timeout=120).json()
    assert "Every page of the PDF shows the VAT number." in item["description"]
    assert httpx.get(f"{desk}/v1/backlog/{dark_id}", timeout=120).json()["description"] == "A dark theme for night use."

    # the review queue renders the decision with its quote, and links back to the meeting
    page.click("nav a[data-tab=review]")
    page.select_option("#filter-kind", "decision")
    expect(page.locator("#queue li")).to_have_count(1)
    note = page.locator("#detail .note.decision")
    expect(note).to_contain_text("Decided: Invoices are exported as one PDF per month.")
    expect(note.locator(".quotes li")).to_have_text([said])
    page.locator("#detail a.meeting-link").click()
    expect(page.locator("#meeting-view .meeting-title")).to_have_text("Invoice planning")


def test_a_file_that_is_no_conversation_is_refused_with_what_to_fix(page: Page, tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("just some notes without anyone speaking\nand another line\n")
    visit(page, "/#meetings")
    page.set_input_files("#meeting-file", str(path))
    page.click("#meeting-submit")
    expect(page.locator("#meeting-job .upload-error")).to_contain_text("The upload was refused")
    expect(page.locator("#meeting-job .upload-error")).to_contain_text("speaker")
    expect(page.locator("#flash.error")).to_contain_text("speaker")
    expect(page.locator("#meeting-submit")).to_be_enabled()


def test_login_and_role_limits_in_the_browser(browser: Browser, tmp_path: Path, llm: LLM):
    """With accounts on the desk asks for a login; a wrong password says so; a viewer is not offered a decision
    (and the API refuses one); a reviewer's accept is recorded under their name, whatever the page claims."""
    from service.accounts import service as accounts
    from service.core.enums import Role

    settings = Settings(REFINERY_DATA_DIR=tmp_path, REFINERY_LLM_PROVIDER="fake", OPENAI_API_KEY=None)
    app = create_app(settings, llm)
    with app.state.runtime.db.session() as session:
        accounts.add_user(session, "ada", Role.admin, "admin password")
        accounts.add_user(session, "vic", Role.viewer, "viewer password")
        accounts.add_user(session, "rey", Role.reviewer, "reviewer password")
        token = accounts.create_token(session, "ada")[1]
    llm.chat.replies.append(story_json())
    with live_server(app) as url:
        made = httpx.post(
            f"{url}/v1/drafts", json={"text": "filter by price"}, headers={"Authorization": f"Bearer {token}"},
            timeout=120,
        )  # fmt: skip
        assert made.status_code == 201
        context = browser.new_context(base_url=url)
        page = context.new_page()
        page.set_default_timeout(TIMEOUT_MS)

        def sign_in(name: str, password: str) -> None:
            visit(page, "/#review")
            expect(page.locator("#login")).to_be_visible()
            expect(page.locator("main")).to_be_hidden()
            page.fill("#login-name", name)
            page.fill("#login-password", password)
            page.click("#login-submit")

        sign_in("vic", "wrong password")
        expect(page.locator("#flash")).to_contain_text("wrong user name or password")
        sign_in("vic", "viewer password")
        expect(page.locator("#account-name")).to_have_text("vic (viewer)")
        expect(page.locator("#reviewer-box")).to_be_hidden()
        page.locator("#queue li").first.click()
        expect(page.locator("#detail h2")).to_contain_text("pending")
        expect(page.locator("#accept")).to_be_hidden()
        expect(page.locator("nav a[data-tab=draft]")).to_be_hidden()
        expect(page.locator("#new-item")).to_be_hidden()  # a viewer adds no item
        page.keyboard.press("a")  # the shortcut reaches the API, which refuses it
        expect(page.locator("#flash")).to_contain_text("needs the reviewer role")
        page.click("#sign-out")
        expect(page.locator("#login")).to_be_visible()  # signed out: the next page must not race the logout
        sign_in("rey", "reviewer password")
        expect(page.locator("#account-name")).to_have_text("rey (reviewer)")
        page.locator("#queue li").first.click()
        page.click("#accept")
        expect(page.locator("#flash")).to_contain_text("Accepted #1")
        context.close()
        history = httpx.get(
            f"{url}/v1/suggestions/1/history", headers={"Authorization": f"Bearer {token}"}, timeout=120
        ).json()
        assert [event["actor"] for event in history] == ["ada", "rey"]
    app.state.runtime.db.engine.dispose()


def test_a_mailed_link_opens_its_suggestion_in_its_project_and_a_person_sets_their_own_mail_and_password(
    browser: Browser, tmp_path: Path, llm: LLM
):
    """The link in a mailed inbox line (`/?project=ops#review/2`) opens that suggestion in that project, after the
    login it asks for; in the inbox a person sets the address their unread lines are mailed to, or stops them; in the
    header, their password (the page stays signed in)."""
    from service.accounts import service as accounts
    from service.core import scope
    from service.core.enums import Role

    settings = Settings(REFINERY_DATA_DIR=tmp_path, REFINERY_LLM_PROVIDER="fake", OPENAI_API_KEY=None)
    app = create_app(settings, llm)
    with app.state.runtime.db.session() as session:
        accounts.add_user(session, "ada", Role.admin, "admin password")
        accounts.add_user(session, "rey", Role.reviewer, "reviewer password")
        token = accounts.create_token(session, "ada")[1]
    ada = {"Authorization": f"Bearer {token}"}
    with live_server(app) as url:
        made = httpx.post(f"{url}/v1/projects", json={"key": "ops", "name": "Ops"}, headers=ada, timeout=120)
        assert made.status_code == 201, made.text
        with app.state.runtime.db.session() as session:
            ops = scope.find_project(session, "ops").id
        with app.state.runtime.db.session() as session, scope.in_project(ops):
            accounts.set_role(session, "rey", Role.reviewer)
        for title in ("Rotate logs", "Alert on full disks"):
            llm.chat.replies.append(story_json(title=title))
            made = httpx.post(f"{url}/v1/drafts?project=ops", json={"text": title}, headers=ada, timeout=120)
            assert made.status_code == 201, made.text
        context = browser.new_context(base_url=url)
        page = context.new_page()
        page.set_default_timeout(TIMEOUT_MS)
        visit(page, "/?project=ops#review/2")
        expect(page.locator("#login")).to_be_visible()
        page.fill("#login-name", "rey")
        page.fill("#login-password", "reviewer password")
        page.click("#login-submit")
        expect(page.locator("#detail h2")).to_contain_text("#2")
        expect(page.locator("#detail")).to_contain_text("Alert on full disks")
        expect(page.locator("#project")).to_have_value("ops")
        page.click("#detail h2 .copy-link")  # the same link, for a teammate
        expect(page.locator("#flash")).to_contain_text(f"{url}/?project=ops#review/2")
        page.click("#inbox-link")
        form = page.locator("#inbox-mail")
        expect(form).to_be_visible()
        expect(form).to_contain_text("This server sends no mail yet")
        page.check("#inbox-mail-on")
        form.get_by_role("button", name="Save").click()
        expect(page.locator("#flash")).to_contain_text("Type the address")
        page.fill("#inbox-mail-address", "rey@example.com")
        page.select_option("#inbox-mail-every", "daily")
        form.get_by_role("button", name="Save").click()
        expect(page.locator("#flash")).to_contain_text("will be mailed to rey@example.com, at most once a day")
        page.uncheck("#inbox-mail-on")
        form.get_by_role("button", name="Save").click()
        expect(page.locator("#flash")).to_contain_text("None of your lines will be mailed")
        page.click("#change-password")  # then a new password, and this login goes on
        page.fill("#password-now", "wrong password")
        page.fill("#password-new", "a better password")
        page.fill("#password-again", "a better password")
        page.click("#password-form button[type=submit]")
        expect(page.locator("#flash")).to_contain_text("the current password is wrong")
        page.fill("#password-now", "reviewer password")
        page.click("#password-form button[type=submit]")
        expect(page.locator("#flash")).to_contain_text("Password changed")
        expect(page.locator("#password-form")).to_be_hidden()
        page.click("#inbox-mail button[type=submit]")  # a change with the new session's CSRF token
        expect(page.locator("#flash")).to_contain_text("None of your lines will be mailed")
        page.click("#sign-out")
        expect(page.locator("#login")).to_be_visible()
        page.fill("#login-name", "rey")
        page.fill("#login-password", "a better password")
        page.click("#login-submit")
        expect(page.locator("#account-name")).to_have_text("rey (reviewer)")
        context.close()
        users = {u["name"]: u for u in httpx.get(f"{url}/v1/users", headers=ada, timeout=120).json()}
        assert (users["rey"]["email"], users["rey"]["email_notifications"]) == ("rey@example.com", False)
    app.state.runtime.db.engine.dispose()


def test_members_are_managed_in_the_desk_from_the_first_admin_that_turns_accounts_on(page: Page, desk: str):
    page.on("dialog", lambda dialog: dialog.accept())
    visit(page, "/#backlog")
    page.click("#members summary")
    expect(page.locator("#members-list")).to_contain_text("Accounts are off")
    expect(page.locator("#member-form [name=role]")).to_have_value("admin")
    page.fill("#member-form [name=name]", "ada")
    page.click("#member-add")  # no password: the first admin could never sign in
    expect(page.locator("#members-list")).to_contain_text("Accounts are off")
    page.fill("#member-form [name=password]", "admin password")
    page.click("#member-add")
    expect(page.locator("#flash")).to_contain_text("ada is the first admin: accounts are on")
    expect(page.locator("#login")).to_be_visible()  # the desk now asks who is there
    page.fill("#login-name", "ada")
    page.fill("#login-password", "admin password")
    page.click("#login-submit")
    expect(page.locator("#account-name")).to_have_text("ada (admin)")
    page.click("nav a[data-tab=backlog]")
    page.click("#members summary")
    expect(page.locator("#members summary")).to_have_text("Members (1)")
    form = page.locator("#member-form")
    form.locator("[name=name]").fill("cy")
    expect(form.locator("[name=role]")).to_have_value("reviewer")
    form.locator("[name=email]").fill("cy@example.com")
    page.click("#member-add")
    expect(page.locator("#flash")).to_contain_text("cy added as reviewer")
    cy = page.locator("#members-list tr", has_text="cy@example.com")
    expect(cy).to_contain_text("tokens only")
    cy.locator(".member-role").select_option("viewer")
    expect(page.locator("#flash")).to_contain_text("cy is now viewer")
    expect(page.locator("#members-list tr", has_text="ada").locator(".remove-member")).to_have_count(0)  # not oneself
    form.locator("[name=name]").fill("cy")
    page.click("#member-add")
    expect(page.locator("#flash")).to_contain_text("cy is a member of this project already")
    cy.locator(".remove-member").click()
    expect(page.locator("#flash")).to_contain_text("cy removed from this project")
    expect(page.locator("#members summary")).to_have_text("Members (1)")


def test_the_project_picker_switches_the_backlog_and_the_export_links(page: Page, desk: str):
    for key, title in (("shop", "Filter search results by price"), ("mobile", "Offline mode for the Android app")):
        assert httpx.post(f"{desk}/v1/projects", json={"key": key}, timeout=120).status_code == 201
        made = httpx.post(f"{desk}/v1/backlog/items?project={key}", json={"title": title}, timeout=120)
        assert made.status_code == 201
    visit(page, "/#backlog")
    expect(page.locator("#project")).to_be_visible()
    expect(page.locator("#backlog .item-title")).to_have_count(0)  # the default project is empty
    page.select_option("#project", "mobile")
    expect(page.locator("#backlog .item-title")).to_have_text(["Offline mode for the Android app"])
    exported = page.request.get(page.get_attribute("a.export[href*=markdown]", "href")).text()
    assert "Offline mode" in exported and "Filter search results" not in exported
