"""Schemathesis over every operation of the app's OpenAPI schema (fake model, a fresh SQLite database, accounts on and
every request sent with an admin's token): no answer may be a 500, and every answer's status, content type and body
must be the ones the schema documents (issue 15)."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings
from schemathesis import GenerationMode
from schemathesis.python import asgi
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from pipelines.llm import fake_llm
from service.accounts import service as accounts
from service.api import create_app
from service.core.enums import Role
from service.core.settings import Settings

MAX_EXAMPLES = 30  # per operation and generation mode: about 2 minutes for every operation on 2 cores
CHECKS = [schemathesis.checks.not_a_server_error, status_code_conformance, content_type_conformance]
CHECKS.append(response_schema_conformance)
requests_made = 0

# The app and its schema are made when the module is collected (the parametrization needs the operations then; with
# Schemathesis 4.32 its lazy `from_fixture` does not work under pytest 9.2); nothing starts until the first request.
DATA_DIR = Path(tempfile.mkdtemp(prefix="refinery-fuzz-"))
APP = create_app(
    Settings(
        REFINERY_DATA_DIR=DATA_DIR,
        REFINERY_LLM_PROVIDER="fake",
        OPENAI_API_KEY=None,
        DATABASE_URL=None,
        REFINERY_MODEL_RATE_PER_MINUTE=0,  # the 429 is tested in test_hardening; here every example reaches a route
    ),
    fake_llm(),  # no scripted replies: model work fails, and must still answer as documented
)
with APP.state.runtime.db.session() as _session:  # accounts on: every example is sent as an admin, with a token
    accounts.add_user(_session, "fuzz-admin", Role.admin)
    _credential, TOKEN = accounts.create_token(_session, "fuzz-admin", "schemathesis")
    _session.flush()
    _credential.id = 1_234_567  # an id the fuzzer's DELETE /v1/tokens/{token_id} is unlikely to pick
schema = schemathesis.openapi.from_dict(APP.openapi())
schema.app, schema.location = APP, "/openapi.json"  # what from_asgi sets, without a request at collection
schema.config.generation.update(
    modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE],
    max_examples=MAX_EXAMPLES,
    deterministic=True,  # the same requests on every CI run; `schemathesis run` (README) explores further
    database="none",
)


@pytest.fixture(scope="module", autouse=True)
def _close_app() -> Iterator[None]:
    yield
    asgi.shutdown_lifespans()  # Schemathesis started the app's lifespan (its job runner) on the first request
    APP.state.runtime.db.engine.dispose()
    shutil.rmtree(DATA_DIR, ignore_errors=True)


@pytest.fixture
def fuzz_headers() -> dict[str, str]:
    """Headers every fuzzed request carries: the admin's token."""
    return {"Authorization": f"Bearer {TOKEN}"}


def test_the_fuzzer_is_signed_in_and_accounts_are_on(fuzz_headers: dict[str, str]) -> None:
    client = TestClient(APP, base_url="http://localhost")  # no lifespan: Schemathesis starts the app's own
    assert client.get("/v1/backlog").status_code == 401
    assert client.get("/v1/backlog", headers=fuzz_headers).status_code == 200


@schema.parametrize()
@settings(deadline=None, suppress_health_check=list(HealthCheck), database=None)
def test_every_operation_answers_as_documented(case: schemathesis.Case, fuzz_headers: dict[str, str]) -> None:
    global requests_made
    requests_made += 1
    case.call_and_validate(headers=fuzz_headers, checks=CHECKS)


def test_fuzzing_made_requests(capsys: pytest.CaptureFixture[str]) -> None:
    """Runs after the operations above: says how many requests they made (0 when run alone)."""
    with capsys.disabled():
        print(f"\nSchemathesis made {requests_made} requests")
