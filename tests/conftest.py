from __future__ import annotations

import gc
import itertools
import json
import os
import time
import weakref
from pathlib import Path
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient

from pipelines.llm import LLM, fake_llm
from service.api import create_app
from service.core.runtime import Runtime
from service.core.settings import Settings
from tests.postgres import postgres_server

# TestClient sends `Host: testserver`; the service answers only to the names it is told (DNS rebinding)
os.environ.setdefault("REFINERY_ALLOWED_HOSTS", "localhost,127.0.0.1,::1,testserver")


def story(**overrides: Any) -> dict[str, Any]:
    """A valid StoryDraft payload."""
    data = {
        "title": "Filter search results by price",
        "persona": "online shopper",
        "goal": "to filter search results by a price range",
        "benefit": "I find affordable products without scrolling through every result",
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


def finished(client: TestClient, status_url: str, timeout_s: float = 60) -> dict[str, Any]:
    """A job's status once it is no longer queued or running (polled through the API)."""
    deadline = time.monotonic() + timeout_s
    while (job := client.get(status_url).json())["status"] in ("queued", "running"):
        assert time.monotonic() < deadline, job
        time.sleep(0.05)
    return job


@pytest.fixture(scope="session")
def postgres_url() -> str:
    with postgres_server() as url:
        yield url


_database_numbers = itertools.count()


@pytest.fixture(params=["sqlite", "postgresql"])
def settings(request: pytest.FixtureRequest, tmp_path: Path) -> Settings:
    """Settings on a fresh database: a SQLite file, or a new database on a real PostgreSQL server."""
    database_url = None
    if request.param == "postgresql":
        server = request.getfixturevalue("postgres_url")
        name = f"test_{next(_database_numbers)}"
        with psycopg.connect(server, autocommit=True) as connection:
            connection.execute(f"CREATE DATABASE {name}")
        database_url = server.rsplit("/", 1)[0] + f"/{name}"
    return Settings(
        REFINERY_DATA_DIR=tmp_path, REFINERY_LLM_PROVIDER="fake", OPENAI_API_KEY=None, DATABASE_URL=database_url
    )


@pytest.fixture
def cli_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh data folder (fake LLM) for CLI commands run in this process; settings are read afresh before and after
    (they are cached per process), so each test's environment counts."""
    from service.core.settings import get_settings

    monkeypatch.setenv("REFINERY_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("REFINERY_LLM_PROVIDER", "fake")
    get_settings.cache_clear()
    yield tmp_path
    get_settings.cache_clear()


# Every Runtime a test makes (an app's, a CLI command's) is closed when the test ends: each opens an embedded vector
# store whose few threads and files would otherwise stay for the rest of the run (2,500 threads at the end of a full
# run). Runtimes made before the test (a module's app) are left to their fixtures.
_runtimes: weakref.WeakSet[Runtime] = weakref.WeakSet()
_made = Runtime.__init__


def _tracked(self: Runtime, *args: Any, **kwargs: Any) -> None:
    _made(self, *args, **kwargs)
    _runtimes.add(self)


Runtime.__init__ = _tracked  # type: ignore[method-assign]


@pytest.fixture(autouse=True)
def _close_runtimes() -> Any:
    before = set(_runtimes)
    yield
    for runtime in set(_runtimes) - before:
        runtime.close()


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish() -> None:
    """One full collection, then what is left is frozen: pytest's check for unraisable exceptions collects garbage
    ten more times as the run ends, and each pass walked the whole heap a full run leaves (about two minutes after
    the summary). Garbage made before this point is still collected, and its finalizers' errors still reported."""
    gc.collect()
    gc.freeze()


@pytest.fixture
def llm() -> LLM:
    return fake_llm()


@pytest.fixture
def client(settings: Settings, llm: LLM) -> TestClient:
    with TestClient(create_app(settings, llm)) as test_client:
        yield test_client  # its runtime is closed by _close_runtimes
