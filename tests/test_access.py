"""Accounts and access: every route called as anonymous, viewer, reviewer, admin, a user of no project, and with
expired and revoked tokens gets the status its rule in service.accounts.access.ACCESS says (the table fails for a
route added without a rule); the desk's login (cookie, CSRF, lockout); requests from other websites and other
Host names are refused in every mode."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import delete, select, update
from typer.testing import CliRunner

from pipelines.llm import fake_llm
from service.accounts import service as accounts
from service.accounts.access import ACCESS, PUBLIC, SESSION_COOKIE, SIGNED_IN
from service.api import create_app
from service.cli import app as cli
from service.core.enums import Role
from service.core.settings import Settings, get_settings
from service.core.tables import BacklogItem, Credential, Membership, Suggestion, utcnow
from tests.conftest import story_json

NOT_IN_SCHEMA = {("GET", "/"), ("GET", "/metrics"), ("GET", "/docs"), ("GET", "/docs/assets/swagger-init.js")}
IDENTITIES = ("anonymous", "viewer", "reviewer", "admin", "outsider", "expired", "revoked")


def make_users(client: TestClient) -> dict[str, str]:
    """Users of every role, one of no project, and an expired and a revoked token: identity -> bearer token."""
    tokens: dict[str, str] = {}
    with client.app.state.runtime.db.session() as session:
        for role in Role:
            accounts.add_user(session, role.value, role, password="correct horse")
            tokens[role.value] = accounts.create_token(session, role.value)[1]
        outsider = accounts.add_user(session, "outsider", Role.viewer)
        session.execute(delete(Membership).where(Membership.user_id == outsider.id))
        tokens["outsider"] = accounts.create_token(session, "outsider")[1]
        expired, tokens["expired"] = accounts.create_token(session, "admin", expires_days=1)
        expired.expires_at = utcnow() - timedelta(seconds=1)
        revoked, tokens["revoked"] = accounts.create_token(session, "admin")
        revoked.revoked_at = utcnow()
    return tokens


def expected(identity: str, need: Role | str | None) -> set[int] | None:
    """The statuses a call must get; None: any status the route itself gives (auth let it through)."""
    if need is PUBLIC:
        return None
    if identity in ("anonymous", "expired", "revoked"):
        return {401}
    if need == SIGNED_IN:
        return None
    if identity == "outsider":
        return {404}
    return {403} if Role(identity).rank < need.rank else None


@pytest.fixture
def open_client(tmp_path: Path) -> TestClient:
    settings = Settings(REFINERY_DATA_DIR=tmp_path, REFINERY_LLM_PROVIDER="fake", OPENAI_API_KEY=None)
    with TestClient(create_app(settings, fake_llm())) as test_client:
        yield test_client


def test_every_route_has_an_access_rule_and_every_rule_a_route(open_client):
    routes = {(method.upper(), path) for path, ops in open_client.app.openapi()["paths"].items() for method in ops}
    assert routes - set(ACCESS) == set(), "add these routes to service.accounts.access.ACCESS"
    assert set(ACCESS) - routes - NOT_IN_SCHEMA == set(), "these rules name routes that do not exist"


def test_every_route_as_every_identity(open_client):
    tokens = make_users(open_client)
    wrong: list[str] = []
    for (method, path), need in sorted(ACCESS.items(), key=str):
        if (method, path) in NOT_IN_SCHEMA - {("GET", "/"), ("GET", "/docs")}:
            continue
        url = re.sub(r"\{name\}", "nobody", re.sub(r"\{\w+_id\}", "999999", path))
        for identity in IDENTITIES:
            headers = {} if identity == "anonymous" else {"Authorization": f"Bearer {tokens[identity]}"}
            status = open_client.request(method, url, headers=headers, json={}).status_code
            want = expected(identity, need)
            if (want is None and status in (401, 403)) or (want is not None and status not in want):
                wrong.append(f"{method} {path} as {identity}: {status}, expected {want or 'not 401/403'}")
    assert wrong == []


def test_without_users_every_route_is_open_and_x_user_names_the_reviewer(client, llm):
    llm.chat.replies.append(story_json())
    suggestion = client.post("/v1/drafts", json={"text": "customers want a price filter"}).json()
    reply = client.post(f"/v1/suggestions/{suggestion['id']}/reject", json={"reason": "no"}, headers={"X-User": "ann"})
    assert reply.status_code == 200 and reply.json()["decided_by"] == "ann"
    assert client.get("/v1/auth/me").json() == {
        "auth": False,
        "name": None,
        "role": None,
        "csrf_token": None,
        "email": None,
        "email_notifications": None,
        "mail_every": None,
        "mail": False,
    }


def test_with_users_decisions_record_the_authenticated_user_not_what_the_request_claims(client, llm):
    tokens = make_users(client)
    llm.chat.replies.append(story_json())
    reviewer = {"Authorization": f"Bearer {tokens['reviewer']}", "X-User": "mallory"}
    suggestion = client.post("/v1/drafts", json={"text": "customers want a price filter"}, headers=reviewer).json()
    reply = client.post(f"/v1/suggestions/{suggestion['id']}/accept", json={"decided_by": "mallory"}, headers=reviewer)
    assert reply.status_code == 201
    history = client.get(f"/v1/suggestions/{suggestion['id']}/history", headers=reviewer).json()
    assert [event["actor"] for event in history] == ["reviewer", "reviewer"]
    assert client.get(f"/v1/suggestions/{suggestion['id']}", headers=reviewer).json()["decided_by"] == "reviewer"


def test_a_viewer_is_refused_a_decision_and_nothing_changes(client, llm):
    tokens = make_users(client)
    llm.chat.replies.append(story_json())
    suggestion = client.post(
        "/v1/drafts",
        json={"text": "customers want a price filter"},
        headers={"Authorization": f"Bearer {tokens['admin']}"},
    ).json()
    viewer = {"Authorization": f"Bearer {tokens['viewer']}"}
    reply = client.post(f"/v1/suggestions/{suggestion['id']}/accept", headers=viewer)
    assert reply.status_code == 403 and "reviewer role" in reply.json()["detail"]
    with client.app.state.runtime.db.session() as session:
        assert session.get(Suggestion, suggestion["id"]).status == "pending"
        assert session.scalar(select(BacklogItem.id)) is None


def test_tokens_are_shown_once_stored_hashed_and_stop_working_when_revoked(client):
    tokens = make_users(client)
    admin = {"Authorization": f"Bearer {tokens['admin']}"}
    created = client.post("/v1/tokens", json={"name": "ci"}, headers=admin)
    assert created.status_code == 201 and created.json()["token"].startswith("rfy_")
    secret, token_id = created.json()["token"], created.json()["id"]
    with client.app.state.runtime.db.session() as session:
        stored = session.get(Credential, token_id).secret_hash
    assert secret not in stored and stored == accounts.digest(secret)
    assert all("token" not in row for row in client.get("/v1/tokens", headers=admin).json())
    mine = {"Authorization": f"Bearer {secret}"}
    assert client.get("/v1/backlog", headers=mine).status_code == 200
    assert client.delete(f"/v1/tokens/{token_id}", headers=admin).status_code == 204
    assert client.get("/v1/backlog", headers=mine).status_code == 401


def test_a_user_cannot_revoke_or_see_another_users_token(client):
    tokens = make_users(client)
    viewer = {"Authorization": f"Bearer {tokens['viewer']}"}
    with client.app.state.runtime.db.session() as session:
        admin_id = accounts.get_user(session, "admin").id
        admin_token = session.scalar(select(Credential.id).where(Credential.user_id == admin_id))
    assert client.delete(f"/v1/tokens/{admin_token}", headers=viewer).status_code == 404
    assert {row["user"] for row in client.get("/v1/tokens", headers=viewer).json()} == {"viewer"}


@pytest.mark.parametrize(
    "authorization",
    ["Bearer", "Bearer ", "Bearer rfy_not-a-token", "Basic YWRtaW46YWRtaW4=", "rfy_" + "x" * 5000, "Bearer \u00e9"],
)
def test_malformed_or_unknown_tokens_get_401(open_client, authorization):
    make_users(open_client)
    reply = open_client.get("/v1/backlog", headers={"Authorization": authorization.encode()})
    assert reply.status_code == 401 and reply.headers["www-authenticate"] == "Bearer"


def test_desk_login_sets_a_strict_httponly_cookie_and_needs_csrf_for_changes(client):
    make_users(client)
    reply = client.post("/v1/auth/login", json={"name": "reviewer", "password": "correct horse"})
    assert reply.status_code == 200
    cookie = reply.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/" in cookie
    me = client.get("/v1/auth/me").json()
    assert me["name"] == "reviewer" and me["role"] == "reviewer" and me["csrf_token"] == reply.json()["csrf_token"]
    refused = client.post("/v1/drafts", json={"text": "customers want a price filter"})
    assert refused.status_code == 403 and "X-CSRF-Token" in refused.json()["detail"]
    wrong = client.post("/v1/drafts", json={"text": "a price filter"}, headers={"X-CSRF-Token": "0" * 64})
    assert wrong.status_code == 403
    ok = client.post("/v1/drafts", json={"text": "a price filter"}, headers={"X-CSRF-Token": me["csrf_token"]})
    assert ok.status_code == 201
    assert client.post("/v1/auth/logout", headers={"X-CSRF-Token": me["csrf_token"]}).status_code == 204
    assert client.get("/v1/backlog").status_code == 401


def test_people_change_their_own_password_and_their_other_logins_end_but_this_one_and_tokens_go_on(client):
    tokens = make_users(client)
    open_client = TestClient(client.app)  # another browser: its own cookies
    signed = client.post("/v1/auth/login", json={"name": "reviewer", "password": "correct horse"}).json()
    csrf = {"X-CSRF-Token": signed["csrf_token"]}
    elsewhere = open_client.post("/v1/auth/login", json={"name": "reviewer", "password": "correct horse"})
    assert elsewhere.status_code == 200  # another browser
    change = "/v1/auth/password"
    wrong = client.post(change, json={"current_password": "wrong!!!", "password": "a new horse"}, headers=csrf)
    assert wrong.status_code == 403 and wrong.json()["detail"] == "the current password is wrong"
    short = client.post(change, json={"current_password": "correct horse", "password": "short"}, headers=csrf)
    assert short.status_code == 422 and "at least 8 characters" in short.text
    done = client.post(change, json={"current_password": "correct horse", "password": "a new horse"}, headers=csrf)
    assert done.status_code == 200 and done.json()["name"] == "reviewer", done.text
    assert done.json()["csrf_token"] != signed["csrf_token"]  # a new session for this browser
    again = client.post("/v1/drafts", json={"text": "x"}, headers={"X-CSRF-Token": done.json()["csrf_token"]})
    assert again.status_code != 401
    assert open_client.get("/v1/backlog").status_code == 401  # the other browser's login ended
    bearer = {"Authorization": f"Bearer {tokens['reviewer']}"}
    assert client.get("/v1/backlog", headers=bearer).status_code == 200  # tokens are not touched
    old = open_client.post("/v1/auth/login", json={"name": "reviewer", "password": "correct horse"})
    assert old.status_code == 401
    new = open_client.post("/v1/auth/login", json={"name": "reviewer", "password": "a new horse"})
    assert new.status_code == 200
    by_token = client.post(change, json={"current_password": "a new horse", "password": "third horse"}, headers=bearer)
    assert by_token.status_code == 200 and by_token.json()["csrf_token"] is None
    for _ in range(get_settings().login_attempts):  # wrong guesses count towards the lockout, as at the login
        client.post(change, json={"current_password": "guess!!!", "password": "fourth horse"}, headers=bearer)
    locked = client.post(change, json={"current_password": "third horse", "password": "fourth horse"}, headers=bearer)
    assert locked.status_code == 429 and int(locked.headers["retry-after"]) > 0


def test_a_cookie_from_another_instance_is_refused(open_client, tmp_path):
    make_users(open_client)
    other = Settings(REFINERY_DATA_DIR=tmp_path / "other", REFINERY_LLM_PROVIDER="fake", OPENAI_API_KEY=None)
    with TestClient(create_app(other, fake_llm())) as other_client:
        make_users(other_client)
        other_client.post("/v1/auth/login", json={"name": "admin", "password": "correct horse"})
        stolen = other_client.cookies[SESSION_COOKIE]
    open_client.cookies.set(SESSION_COOKIE, stolen)
    assert open_client.get("/v1/backlog").status_code == 401
    assert open_client.get("/v1/auth/me").json()["name"] is None  # public routes ignore it instead of failing


def test_repeated_wrong_passwords_lock_the_user_out_even_with_the_right_one(client):
    make_users(client)
    for _ in range(get_settings().login_attempts):
        assert client.post("/v1/auth/login", json={"name": "admin", "password": "wrong!!!"}).status_code == 401
    locked = client.post("/v1/auth/login", json={"name": "admin", "password": "correct horse"})
    assert locked.status_code == 429 and int(locked.headers["retry-after"]) > 0
    assert client.post("/v1/auth/login", json={"name": "nobody", "password": "x"}).status_code == 401
    with client.app.state.runtime.db.session() as session:  # the lockout ends
        session.execute(update(accounts.User).values(locked_until=utcnow() - timedelta(seconds=1)))
    assert client.post("/v1/auth/login", json={"name": "admin", "password": "correct horse"}).status_code == 200


@pytest.mark.parametrize(
    "headers",
    [{"Origin": "http://evil.example"}, {"Origin": "null"}, {"Sec-Fetch-Site": "cross-site"},
     {"Origin": "http://testserver.evil.example"}, {"Sec-Fetch-Site": "same-site"}],
)  # fmt: skip
def test_a_state_changing_request_from_another_website_is_refused_and_stores_nothing(client, llm, headers):
    llm.chat.replies.append(story_json())
    suggestion = client.post("/v1/drafts", json={"text": "customers want a price filter"}).json()
    for method, url, body in [
        ("POST", f"/v1/suggestions/{suggestion['id']}/accept", None),
        ("POST", "/v1/backlog/items", {"title": "planted"}),
        ("POST", "/v1/drafts", {"text": "x"}),
    ]:
        reply = client.request(method, url, json=body, headers=headers)
        assert reply.status_code == 403 and "another website" in reply.json()["detail"]
    with client.app.state.runtime.db.session() as session:
        assert session.get(Suggestion, suggestion["id"]).status == "pending"
        assert session.scalar(select(BacklogItem.id)) is None


def test_the_services_own_pages_and_scripts_may_change_things(client):
    same_origin = {"Origin": "http://testserver", "Sec-Fetch-Site": "same-origin"}
    assert client.post("/v1/drafts", json={"text": "a price filter"}, headers=same_origin).status_code == 201
    assert client.post("/v1/drafts", json={"text": "a price filter"}).status_code == 201  # curl, the CLI


def test_an_unknown_host_name_is_refused(client):
    assert client.get("/v1/backlog", headers={"Host": "attacker.example"}).status_code == 400
    assert client.get("/v1/backlog", headers={"Host": "localhost:8000"}).status_code == 200


def test_cli_makes_the_first_admin_and_a_token_that_the_api_accepts(cli_home, monkeypatch):
    monkeypatch.setenv("REFINERY_PASSWORD", "correct horse")
    runner = CliRunner()
    refused = runner.invoke(cli, ["user", "add", "ann", "--role", "viewer"])
    assert refused.exit_code == 2 and "first user must be an admin" in refused.output
    assert runner.invoke(cli, ["user", "add", "ann", "--role", "admin"]).exit_code == 0
    created = runner.invoke(cli, ["token", "create", "ann", "--name", "ci"])
    assert created.exit_code == 0
    token = created.stdout.strip().splitlines()[-1]
    with TestClient(create_app(get_settings(), fake_llm())) as api:
        assert api.get("/v1/backlog").status_code == 401
        assert api.get("/v1/backlog", headers={"Authorization": f"Bearer {token}"}).status_code == 200
        assert api.post("/v1/auth/login", json={"name": "ann", "password": "correct horse"}).status_code == 200
    assert runner.invoke(cli, ["token", "revoke", "1"]).exit_code == 0
    assert "ann" in runner.invoke(cli, ["user", "list"]).output


def test_serve_refuses_another_address_without_users_and_says_how_to_make_the_first_admin(tmp_path, monkeypatch):
    monkeypatch.setenv("REFINERY_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("REFINERY_LLM_PROVIDER", "fake")
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(cli, ["serve", "--host", "0.0.0.0", "--no-warm"])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 2
    assert "refusing to listen on 0.0.0.0" in result.output and "refinery user add NAME --role admin" in result.output


def test_the_only_admin_cannot_be_removed_or_demoted(client):
    tokens = make_users(client)
    admin = {"Authorization": f"Bearer {tokens['admin']}"}
    assert client.delete("/v1/users/admin", headers=admin).status_code == 409
    assert client.put("/v1/users/admin", json={"role": "viewer"}, headers=admin).status_code == 409
    assert client.put("/v1/users/viewer", json={"role": "reviewer"}, headers=admin).json()["role"] == "reviewer"
