from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from pipelines.llm import LLM, fake_llm
from service.api import create_app
from service.settings import Settings


def story(**overrides: Any) -> dict[str, Any]:
    """A valid StoryDraft payload."""
    data = {
        "title": "Filter search results by price",
        "persona": "online shopper",
        "goal": "to filter search results by a price range",
        "benefit": "I find affordable products without scrolling 400 results",
        "acceptance_criteria": [
            {
                "given": "search results are shown",
                "when": "I set a min and max price",
                "then": "only products in range remain",
            },
            {"given": "a price filter is set", "when": "I clear it", "then": "all results are shown again"},
        ],
        "item_type": "feature",
        "labels": ["search"],
        "assumptions": ["Prices are shown in one currency."],
        "open_questions": ["Should the filter also apply to sale prices?"],
    }
    return data | overrides


def story_json(**overrides: Any) -> str:
    return json.dumps(story(**overrides))


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(REFINERY_DATA_DIR=tmp_path, REFINERY_LLM_PROVIDER="fake", OPENAI_API_KEY=None)


@pytest.fixture
def llm() -> LLM:
    return fake_llm()


@pytest.fixture
def client(settings: Settings, llm: LLM) -> TestClient:
    with TestClient(create_app(settings, llm)) as test_client:
        yield test_client
