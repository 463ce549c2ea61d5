"""The real embedded model (Qwen2.5-Coder-1.5B in llama.cpp's server, built by scripts/setup.sh) on small inputs:
slow, few, and never skipped. The last test kills the model process in the middle of a real draft."""

from __future__ import annotations

import os
import re
import signal
import time
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from pipelines.drafting import draft_story
from pipelines.llm import LLM, LLMConfig, build_llm
from pipelines.models import StoryDraft
from service.api import create_app
from service.core.settings import Settings
from tests.live_server import live_server, read_events

pytestmark = pytest.mark.real_model
MODEL_DIR = Path(__file__).resolve().parents[1] / "data"  # the assembled GGUF is shared with `refinery serve`


@pytest.fixture(scope="module")
def local_llm() -> LLM:
    llm = build_llm(LLMConfig(provider="local", data_dir=MODEL_DIR, context_tokens=4096, concurrency=2))
    yield llm
    llm.host.stop()


def test_a_bug_report_becomes_a_bug_story_with_reproduction_criteria(local_llm):
    result = draft_story(
        local_llm,
        "Checkout crashes with a 500 error when a customer applies a discount code on the iOS app. "
        "Started after yesterday's release.",
        "Online shop with web and iOS apps",
    )
    assert result.ok, result.error
    draft = result.value
    assert isinstance(draft, StoryDraft)
    assert draft.item_type == "bug"
    assert len(draft.acceptance_criteria) >= 2
    assert "discount" in " ".join(c.given + c.when for c in draft.acceptance_criteria).lower()
    assert result.record.model == "qwen2.5-coder-1.5b-instruct-q4_k_m-tied"
    assert result.record.output_tokens > 50 and result.record.input_tokens > 200


def test_api_drafts_with_the_local_model_and_a_person_accepts(local_llm, tmp_path):
    settings = Settings(REFINERY_DATA_DIR=tmp_path, REFINERY_LLM_PROVIDER="local", OPENAI_API_KEY=None)
    with TestClient(create_app(settings, local_llm)) as client:
        existing = {
            "title": "Filter search results by price range",
            "description": "Customers want to filter search results by a min and max price instead of scrolling.",
        }
        existing_id = client.post("/v1/backlog/items", json=existing).json()["created"][0]["id"]
        response = client.post(
            "/v1/drafts",
            json={"text": "customers keep asking to filter search by price, scrolling 400 products is painful"},
        )
        assert response.status_code == 201, response.text
        suggestion = response.json()
        assert suggestion["status"] == "pending", suggestion["reason"]
        draft = StoryDraft.model_validate(suggestion["payload"])
        assert "price" in (draft.title + draft.goal).lower()
        assert draft.item_type == "feature"
        assert suggestion["usage"]["output_tokens"] > 0
        # the real embedding model finds the backlog item this draft repeats
        listed = suggestion["evidence"]["duplicates"]
        assert (listed[0]["kind"], listed[0]["item_id"]) == ("backlog_item", existing_id), listed
        assert listed[0]["verdict"] in ("duplicate", "related") and listed[0]["score"] >= 0.48
        item = client.post(f"/v1/suggestions/{suggestion['id']}/accept", json={"decided_by": "pm"}).json()
        assert item["title"] == draft.title
        found = client.get(f"/v1/backlog/{existing_id}/duplicates?k=1").json()
        assert found[0]["item_id"] == item["id"]  # the accepted item was indexed
        assert client.get("/healthz").json()["llm_loaded"] is True


def test_refinement_with_the_local_model_rewrites_splits_and_estimates(local_llm, tmp_path):
    """Quality findings, a rewrite (made again once the item's thread says who it is for) and a split (made again
    once its thread settles a detail) by the real model, and an estimate from comparables found by the real embedding
    model."""
    settings = Settings(REFINERY_DATA_DIR=tmp_path, REFINERY_LLM_PROVIDER="local", OPENAI_API_KEY=None)
    with TestClient(create_app(settings, local_llm)) as client:
        items = [
            {
                "title": "Export invoices to CSV",
                "description": "Finance exports the month's invoices.",
                "story_points": 3,
            },
            {"title": "Dark mode for the mobile app", "description": "A night theme for the app.", "story_points": 13},
            {"title": "Invoice export", "description": "Exporting invoices should be fast and easy, with VAT numbers."},
            {
                "title": "User accounts",
                "description": "As a shopper, I want an account, so that I can see my orders.\n- Sign up with email"
                "\n- Reset a forgotten password\n- Delete my account",
                "story_points": 20,
            },
        ]
        ids = [i["id"] for i in client.post("/v1/backlog/items", json=items).json()["created"]]
        findings = client.post(f"/v1/backlog/{ids[2]}/quality").json()["findings"]
        assert {"fast", "easy"} <= {f["span"] for f in findings if f["criterion"] == "unambiguous"}
        rewrite = client.post(f"/v1/backlog/{ids[2]}/rewrite").json()
        assert rewrite["kind"] == "rewrite" and rewrite["status"] == "pending", rewrite["reason"]
        story = StoryDraft.model_validate(rewrite["payload"])
        assert "vat" in story.model_dump_json().lower()  # a fact the item states is kept
        answer = {"text": "This one is for the tax auditors; they check the VAT numbers every quarter."}
        assert client.post(f"/v1/backlog/{ids[2]}/comments", json=answer).status_code == 201
        again = client.post(f"/v1/backlog/{ids[2]}/rewrite").json()  # made again, with what the thread settled
        assert again["id"] == rewrite["id"] and again["input"]["comment_ids"], again
        assert "auditor" in again["payload"]["persona"].lower(), again["payload"]
        split = client.post(f"/v1/backlog/{ids[3]}/split").json()
        assert split["kind"] == "split" and split["status"] == "pending", split["reason"]
        assert 2 <= len(split["payload"]["children"]) <= 6
        settled = {"text": "Agreed in refinement: a reset link lasts 30 minutes; signing in with Google comes later."}
        assert client.post(f"/v1/backlog/{ids[3]}/comments", json=settled).status_code == 201
        again = client.post(f"/v1/backlog/{ids[3]}/split").json()  # made again with the thread, in its place
        assert again["id"] == split["id"] and again["status"] == "pending", again["reason"]  # 4 of 6 failed before
        assert again["input"]["comment_ids"] and 2 <= len(again["payload"]["children"]) <= 6, again
        estimate = client.post(f"/v1/backlog/{ids[2]}/estimate").json()["payload"]
        assert estimate["method"] == "comparables"
        assert estimate["comparables"][0]["title"] == "Export invoices to CSV", estimate["comparables"]


def test_a_short_meeting_becomes_verified_notes_with_the_local_model(local_llm, tmp_path):
    """A short transcript through the API: the real model reads it, the real embeddings list the backlog items it
    may discuss, and every suggestion rests on quotes that are in the transcript."""
    transcript = (
        "Anna: Good morning everyone, how was the weekend?\n"
        "Ben: Fine, thanks. The printer is broken again.\n"
        "Anna: About the invoice export: finance needs the VAT number on every invoice.\n"
        "Ben: Agreed, we add the VAT number column to the invoice export.\n"
        "Anna: Good. Ben, can you update the export by Friday?\n"
        "Ben: Yes, I will update the invoice export by Friday.\n"
    )
    settings = Settings(REFINERY_DATA_DIR=tmp_path, REFINERY_LLM_PROVIDER="local", OPENAI_API_KEY=None)
    with TestClient(create_app(settings, local_llm)) as client:
        items = [{"title": "Export invoices to CSV", "description": "Finance exports the month's invoices."},
                 {"title": "Dark mode for the mobile app", "description": "A night theme for the app."}]  # fmt: skip
        ids = [i["id"] for i in client.post("/v1/backlog/items", json=items).json()["created"]]
        started = client.post("/v1/conversations", files={"file": ("standup.txt", transcript)}).json()
        deadline = time.monotonic() + 600
        while (job := client.get(started["status_url"]).json())["status"] in ("queued", "running"):
            assert time.monotonic() < deadline, job
            time.sleep(1)
        assert job["status"] == "done" and job["failed"] == 0, job
        suggestions = client.get("/v1/suggestions").json()
        assert suggestions, job  # the meeting settled something: at least one note survived the quote check
        lines = [" ".join(re.findall(r"\w+", line.lower())) for line in transcript.splitlines()]
        for suggestion in suggestions:
            quotes = (suggestion["payload"] or {}).get("quotes") or (suggestion["evidence"] or {}).get("quotes") or []
            for quote in quotes:
                assert " ".join(re.findall(r"\w+", quote["text"].lower())) in lines[quote["turn"]], quote
        about_dark_mode = [s for s in suggestions if (s["payload"] or {}).get("backlog_item_id") == ids[1]]
        assert about_dark_mode == []  # nobody talked about it


def test_real_tickets_are_themed_by_the_embedding_model_and_drafted_with_verified_quotes(local_llm):
    from pipelines.embeddings import get_embedder
    from pipelines.redact import redact
    from pipelines.themes import draft_theme, verify_quotes
    from pipelines.triage import TicketClassifier, cluster_themes
    from tests.test_ingest import CRASH, DARK

    texts = [redact(t).text for t in CRASH + DARK]
    embedder = get_embedder()
    vectors = embedder.encode(texts)
    assert [c for c, _ in TicketClassifier(embedder).classify(texts[:3], vectors[:3])] == ["bug"] * 3
    themes = cluster_themes(vectors, min_size=3)
    assert sorted(sorted(t.members) for t in themes) == [[0, 1, 2, 3], [4, 5, 6, 7]]
    crash = next(t for t in themes if 0 in t.members)
    result = draft_theme(local_llm, [texts[i] for i in crash.members], 4, "photo sharing app")
    assert result.ok, result.error
    assert result.value.item_type == "bug" and "upload" in result.value.title.lower()
    assert result.value.quotes, result.warnings  # at least one quote survived the check
    kept, dropped = verify_quotes(result.value.quotes, texts[:4])
    assert kept == result.value.quotes and not dropped
    assert result.record.attempts == 1


def test_the_real_model_estimates_priority_inputs_and_code_scores_them(local_llm):
    from pipelines.prioritization import estimate_inputs, rank, score

    result = estimate_inputs(
        local_llm,
        "Checkout fails with a 500 error when a discount code is applied",
        "bug",
        "Customers cannot pay when they use a discount code; orders are lost.",
        {"ticket_count": 23, "distinct_customers": 17, "date_range": ["2026-10-01", "2026-10-09"]},
        "1. Grow revenue from returning customers.\n2. Enter the German market.",
        [(7, "Dark mode"), (9, "Upgrade the payment SDK")],
    )
    assert result.ok, result.error
    inputs = result.value
    assert inputs.reach == 17 and "17 customers" in inputs.reach_rationale  # from evidence, and it says so
    assert inputs.depends_on == []  # the text names neither listed item: no dependency is proposed (issue 17)
    assert inputs.time_criticality >= 5  # lost orders are urgent
    rice_score, text = score("rice", inputs)
    assert rice_score == 17 * inputs.impact * inputs.confidence / inputs.effort and text.startswith("RICE 17 x")
    assert rank({1: rice_score, 2: 0.0}, {}) == [1, 2]


def test_the_openai_provider_drafts_through_a_real_llama_cpp_server(local_llm):
    """The documented model-server path: any OpenAI-compatible server, here llama.cpp's own, in json_object mode.
    The schema sent has no string bounds, so the server can compile it into a grammar."""
    local_llm.host.ensure_ready()  # run alone, the server is still loading its model (503) when the call goes out
    config = LLMConfig(
        provider="openai",
        base_url=local_llm.host.base_url,
        api_key="x",
        model="qwen2.5-coder-1.5b",
        openai_schema_mode="json_object",
    )
    result = draft_story(build_llm(config), "Let admins export the audit log as CSV", "B2B SaaS admin console")
    assert result.ok, result.error
    assert "audit" in (result.value.title + result.value.goal).lower()
    assert (result.record.provider, result.record.attempts) == ("openai", 1)


def test_killing_the_model_process_in_the_middle_of_a_real_draft_loses_nothing(local_llm, tmp_path):
    settings = Settings(REFINERY_DATA_DIR=tmp_path, REFINERY_LLM_PROVIDER="local", REFINERY_DUPLICATE_CHECK=False)
    idea = {"text": "Let customers pause their subscription for up to three months", "context": "meal-kit delivery"}
    local_llm.host.ensure_ready()
    with live_server(create_app(settings, local_llm)) as url:
        pid = httpx.get(f"{url}/healthz", timeout=60).json()["llm"]["pid"]
        events, during = [], None
        with httpx.stream("POST", f"{url}/v1/drafts", json=idea | {"stream": True}, timeout=600) as response:
            for event, data in read_events(response.iter_lines()):
                events.append((event, data))
                if event == "field" and sum(e == "field" for e, _ in events) == 1:
                    os.kill(pid, signal.SIGKILL)  # the pid came from the API before the draft, so no wait here
                    during = httpx.get(f"{url}/healthz", timeout=120).json()["llm"]  # it answers during the draft
        health = httpx.get(f"{url}/healthz", timeout=60).json()["llm"]
        assert during is not None and during["state"] in ("ready", "restarting", "starting"), during
        done = events[-1][1]
        assert events[-1][0] == "done" and done["status"] == "pending", done
        assert done["input"] == idea
        assert any("SIGKILL" in w and "sent again" in w for w in done["warnings"]), done["warnings"]
        assert "retry" in [e for e, _ in events]
        assert health["state"] == "ready" and health["restarts"] >= 1 and "SIGKILL" in health["last_exit"]
        StoryDraft.model_validate(done["payload"])
        again = httpx.post(f"{url}/v1/drafts", json={"text": "dark mode for the recipe app"}, timeout=600).json()
        assert again["status"] == "pending" and not again["warnings"]  # the next draft works
