"""E-mail (service.inbox.mail) against a real SMTP server: inbox lines still unread after the delay are mailed once, one
message per person, to members with an address and notifications on; read lines never; a server that is down keeps
the lines for the next round; STARTTLS, implicit TLS and a login work and a wrong one says what to check; people set
their own address (`PATCH /v1/auth/me`), an admin cannot change another's; the API process mails by itself."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from pydantic import SecretStr
from sqlalchemy import select
from typer.testing import CliRunner

from service.cli import app
from service.core.settings import get_settings
from service.core.tables import Notification, utcnow
from service.inbox import mail
from tests.conftest import story_json
from tests.smtp_server import LOGIN, PASSWORD, certificate, free_port, smtp_server
from tests.test_access import make_users
from tests.test_assign import assign

LATER = timedelta(minutes=6)  # past the default delay of 5 minutes


def plain(message) -> str:  # noqa: ANN001
    """A mail's text part (each has an HTML one too)."""
    return message.get_body(("plain",)).get_content()


def people(client) -> dict[str, dict[str, str]]:  # noqa: ANN001
    """Accounts on (tests.test_access.make_users): each role's bearer header."""
    tokens = make_users(client)
    return {name: {"Authorization": f"Bearer {tokens[name]}"} for name in ("viewer", "reviewer", "admin", "outsider")}


def mail_settings(client, port: int, **more):  # noqa: ANN001, ANN201
    return client.app.state.runtime.settings.model_copy(
        update={"smtp_host": "127.0.0.1", "smtp_port": port, "smtp_security": "none", **more}
    )


def draft_with_mentions(client, llm, as_: dict, text: str) -> dict:  # noqa: ANN001
    llm.chat.replies.append(story_json(title="Export invoices as PDF"))
    made = client.post("/v1/drafts", json={"text": "export invoices"}, headers=as_["reviewer"]).json()
    said = client.post(f"/v1/suggestions/{made['id']}/comments", json={"text": text}, headers=as_["reviewer"])
    assert said.status_code == 201, said.text
    return made


def test_unread_lines_are_mailed_once_per_person_and_read_or_unaddressed_ones_never(client, llm):
    as_ = people(client)
    for who, address in (("viewer", "viewer@example.com"), ("admin", "admin@example.com")):
        set_mail = client.patch("/v1/auth/me", json={"email": address}, headers=as_[who])
        assert set_mail.status_code == 200 and set_mail.json()["email"] == address, set_mail.text
        assert set_mail.json()["email_notifications"] is True
    made = draft_with_mentions(client, llm, as_, "@viewer @admin @outsider @reviewer please size this")
    assert assign(client, made["id"], "admin", **as_["reviewer"]).status_code == 200
    first = client.get("/v1/inbox", headers=as_["admin"]).json()[-1]  # admin reads the mention in the desk
    assert client.post("/v1/inbox/read", json={"ids": [first["id"]]}, headers=as_["admin"]).json()["marked"] == 1
    db = client.app.state.runtime.db
    with smtp_server() as (mailbox, port):
        settings = mail_settings(client, port, desk_url="https://refinery.example.com/")
        assert mail.mail_due(db, settings) == mail.Round(0, None)  # not yet: people may read them in the desk first
        assert mailbox.received == []
        assert mail.mail_due(db, settings, utcnow() + LATER) == mail.Round(2, None)
        assert mail.mail_due(db, settings, utcnow() + LATER) == mail.Round(0, None)  # each line once
    assert [sorted(rcpt) for rcpt, _ in mailbox.received] == [["viewer@example.com"], ["admin@example.com"]]
    (to_viewer,) = mailbox.to("viewer@example.com")
    assert to_viewer["Subject"] == (
        f"[Refinery] reviewer mentioned you on story draft #{made['id']} (Export invoices as PDF): @viewer @admin "
        "@outsider @reviewer please size this"
    )
    assert to_viewer["Auto-Submitted"] == "auto-generated" and "Refinery" in to_viewer["From"]
    body = plain(to_viewer)
    assert "Hello viewer," in body and "In Default project:" in body
    assert f"https://refinery.example.com/?project=default#review/{made['id']}" in body
    (to_admin,) = mailbox.to("admin@example.com")
    assert f"reviewer gave you story draft #{made['id']}" in plain(to_admin)
    assert "mentioned you" not in plain(to_admin)  # read before the round: not mailed
    with db.session() as session:
        mailed = dict(session.execute(select(Notification.recipient, Notification.mailed_at)).all())
    assert mailed.keys() == {"viewer", "admin"} and mailed["viewer"] is not None  # the outsider is not a member


def test_people_with_notifications_off_or_old_lines_get_no_mail_and_a_digest_groups_a_persons_lines(client, llm):
    as_ = people(client)
    client.patch("/v1/auth/me", json={"email": "viewer@example.com"}, headers=as_["viewer"])
    off = client.patch("/v1/auth/me", json={"email": "admin@example.com", "email_notifications": False},
                       headers=as_["admin"])  # fmt: skip
    assert off.json()["email_notifications"] is False and off.json()["email"] == "admin@example.com"
    for k in range(3):
        draft_with_mentions(client, llm, as_, f"@viewer @admin note {k}")
    db = client.app.state.runtime.db
    with smtp_server() as (mailbox, port):
        settings = mail_settings(client, port)
        assert mail.mail_due(db, settings, utcnow() + timedelta(days=2)).sent == 0  # older than a day: not late
        assert mail.mail_due(db, settings, utcnow() + LATER).sent == 3
    (digest,) = mailbox.to("viewer@example.com")
    assert digest["Subject"] == "[Refinery] 3 unread in Default project"
    assert [line for line in plain(digest).splitlines() if line.startswith("- ")] == [
        f"- reviewer mentioned you on story draft #{n} (Export invoices as PDF): @viewer @admin note {k}"
        for k, n in enumerate(range(1, 4))
    ]
    assert "#review/" not in plain(digest)  # no REFINERY_DESK_URL: no links
    assert mailbox.to("admin@example.com") == []


def test_hourly_and_daily_people_get_at_most_one_message_an_hour_or_a_day_with_what_came_meanwhile(client, llm):
    as_ = people(client)
    for who, every in (("viewer", "daily"), ("admin", "hourly")):
        chose = client.patch("/v1/auth/me", json={"email": f"{who}@example.com", "mail_every": every}, headers=as_[who])
        assert chose.status_code == 200 and chose.json()["mail_every"] == every, chose.text
    refused = client.patch("/v1/auth/me", json={"mail_every": "weekly"}, headers=as_["viewer"])
    assert refused.status_code == 422 and "soon" in refused.text
    draft_with_mentions(client, llm, as_, "@viewer @admin first")
    db, start = client.app.state.runtime.db, utcnow() + LATER
    with smtp_server() as (mailbox, port):
        settings = mail_settings(client, port)
        assert mail.mail_due(db, settings, start).sent == 2  # the first message of each goes after the delay
        draft_with_mentions(client, llm, as_, "@viewer @admin second")
        draft_with_mentions(client, llm, as_, "@viewer @admin third")
        assert mail.mail_due(db, settings, start + timedelta(minutes=10)).sent == 0  # both wait
        assert mail.mail_due(db, settings, start + timedelta(minutes=61)).sent == 2  # the hour has passed: admin's
        assert mail.mail_due(db, settings, start + timedelta(hours=3)).sent == 0
        assert mail.mail_due(db, settings, start + timedelta(days=1, minutes=1)).sent == 2  # the day: viewer's
    assert [m["Subject"] for m in mailbox.to("admin@example.com")][1] == "[Refinery] 2 unread in Default project"
    first, then = mailbox.to("viewer@example.com")
    assert "at most once a day" in plain(then) and "--mail-every daily" in plain(then)
    assert [line[-6:] for line in plain(then).splitlines() if line.startswith("- ")] == [
        "second",
        " third",
    ]


def test_a_server_that_is_down_keeps_the_lines_and_a_refused_address_does_not_stop_the_others(client, llm):
    as_ = people(client)
    client.patch("/v1/auth/me", json={"email": "viewer@refused.example"}, headers=as_["viewer"])
    client.patch("/v1/auth/me", json={"email": "admin@example.com"}, headers=as_["admin"])
    draft_with_mentions(client, llm, as_, "@viewer @admin look")
    db = client.app.state.runtime.db
    down = mail.mail_due(db, mail_settings(client, free_port()), utcnow() + LATER)
    assert down.sent == 0 and down.error.startswith("could not reach the SMTP server at 127.0.0.1:")
    assert "check REFINERY_SMTP_HOST and REFINERY_SMTP_PORT" in down.error
    with db.session() as session:
        assert session.scalars(select(Notification.mailed_at)).all() == [None, None]  # given back
    with smtp_server() as (mailbox, port):
        assert mail.mail_due(db, mail_settings(client, port), utcnow() + LATER) == mail.Round(2, None)
    assert [rcpt for rcpt, _ in mailbox.received] == [["admin@example.com"]]  # the refused one is not retried


def test_starttls_ssl_and_a_login_work_and_wrong_settings_say_what_to_check(client, tmp_path, monkeypatch):
    cert = certificate(tmp_path)
    monkeypatch.setenv("SSL_CERT_FILE", str(cert[0]))  # trust the test's own CA, as a private one is trusted
    with smtp_server("starttls", cert, login=True) as (mailbox, port):
        good = mail_settings(client, port, smtp_security="starttls", smtp_user=LOGIN, smtp_password=SecretStr(PASSWORD))
        mail.send_test(good, "ana@example.com")
        assert mailbox.to("ana@example.com")[0]["Subject"] == "[Refinery] test message"
        with pytest.raises(mail.MailError, match="refused the login .*check REFINERY_SMTP_USER and REFINERY_SMTP_PASS"):
            mail.send_test(good.model_copy(update={"smtp_password": SecretStr("wrong")}), "ana@example.com")
        with pytest.raises(mail.MailError, match="refused mail from 'refinery@localhost' .530 Must issue a STARTTLS"):
            mail.send_test(good.model_copy(update={"smtp_security": "none", "smtp_user": None}), "ana@example.com")
        with pytest.raises(mail.MailError, match="TLS with 127.0.0.1:.* failed"):  # TLS spoken to a plain port
            mail.send_test(good.model_copy(update={"smtp_security": "ssl"}), "ana@example.com")
    with smtp_server("ssl", cert) as (mailbox, port):
        mail.send_test(mail_settings(client, port, smtp_security="ssl"), "bo@example.com")
        assert len(mailbox.to("bo@example.com")) == 1
    monkeypatch.delenv("SSL_CERT_FILE")
    with smtp_server("ssl", cert) as (_, port), pytest.raises(mail.MailError, match="SSL_CERT_FILE"):
        mail.send_test(mail_settings(client, port, smtp_security="ssl"), "bo@example.com")  # an unknown CA
    with smtp_server() as (_, port), pytest.raises(mail.MailError, match="does not offer STARTTLS"):
        mail.send_test(mail_settings(client, port, smtp_security="starttls"), "bo@example.com")


def test_people_set_their_own_mail_settings_and_an_admin_cannot_change_anothers(client):
    assert client.patch("/v1/auth/me", json={"email": "a@example.com"}).status_code == 409  # accounts off: no users
    as_ = people(client)
    bad = client.patch("/v1/auth/me", json={"email": "not an address"}, headers=as_["viewer"])
    assert bad.status_code == 422 and "email" in bad.text
    assert client.patch("/v1/auth/me", json={"emial": "a@example.com"}, headers=as_["viewer"]).status_code == 422
    set_mail = client.patch("/v1/auth/me", json={"email": " viewer@example.com "}, headers=as_["viewer"])
    assert set_mail.json()["email"] == "viewer@example.com"
    assert client.get("/v1/auth/me", headers=as_["viewer"]).json()["email"] == "viewer@example.com"
    kept = client.patch("/v1/auth/me", json={"email_notifications": False}, headers=as_["viewer"]).json()
    assert (kept["email"], kept["email_notifications"]) == ("viewer@example.com", False)  # left out: kept
    other = client.put("/v1/users/viewer", json={"email": "evil@example.com"}, headers=as_["admin"])
    assert other.status_code == 422 and "only the user can change their own password or e-mail" in other.text
    new = client.post("/v1/users", json={"name": "dee", "role": "reviewer", "email": "dee@example.com"},
                      headers=as_["admin"])  # fmt: skip
    assert new.status_code == 201 and new.json()["email"] == "dee@example.com"
    existing = client.post("/v1/users", json={"name": "outsider", "role": "viewer", "email": "x@example.com"},
                           headers=as_["admin"])  # fmt: skip
    assert existing.status_code == 422 and "has an account already" in existing.text
    listed = {u["name"]: u["email"] for u in client.get("/v1/users", headers=as_["admin"]).json()}
    assert listed["viewer"] == "viewer@example.com" and listed["dee"] == "dee@example.com"
    cleared = client.patch("/v1/auth/me", json={"email": None}, headers=as_["viewer"]).json()
    assert cleared["email"] is None


def test_the_api_process_mails_what_is_due_by_itself(settings, llm, monkeypatch):
    from fastapi.testclient import TestClient

    from service.api import create_app

    monkeypatch.setattr(mail, "TICK_S", 0.2)
    with smtp_server() as (mailbox, port):
        mailing = settings.model_copy(
            update={"smtp_host": "127.0.0.1", "smtp_port": port, "smtp_security": "none", "mail_delay_minutes": 0}
        )
        with TestClient(create_app(mailing, llm)) as client:
            as_ = people(client)
            client.patch("/v1/auth/me", json={"email": "viewer@example.com"}, headers=as_["viewer"])
            draft_with_mentions(client, llm, as_, "@viewer can you look")
            deadline = time.monotonic() + 20
            while not mailbox.received and time.monotonic() < deadline:
                time.sleep(0.1)
        client.app.state.runtime.db.engine.dispose()
    assert [rcpt for rcpt, _ in mailbox.received] == [["viewer@example.com"]]


runner = CliRunner()


def test_the_cli_sets_an_address_and_checks_the_smtp_settings(cli_home, monkeypatch):
    monkeypatch.setenv("REFINERY_PASSWORD", "correct horse")
    added = runner.invoke(app, ["user", "add", "ana", "--role", "admin", "--email", "ana@example.com"])
    assert added.exit_code == 0, added.output
    bad = runner.invoke(app, ["user", "set", "ana", "--email", "ana at example"])
    assert bad.exit_code == 2 and "is not one e-mail address: write it as name@example.com" in bad.output
    off = runner.invoke(app, ["user", "set", "ana", "--no-email-notifications"])
    assert off.exit_code == 0, off.output
    listed = runner.invoke(app, ["user", "list"], env={"COLUMNS": "200"})
    assert "ana@example.com (off)" in listed.output
    daily = runner.invoke(app, ["user", "set", "ana", "--mail-every", "daily", "--email-notifications"])
    assert daily.exit_code == 0, daily.output
    assert "ana@example.com (daily)" in runner.invoke(app, ["user", "list"], env={"COLUMNS": "200"}).output
    assert runner.invoke(app, ["user", "set", "ana", "--mail-every", "weekly"]).exit_code == 2
    unset = runner.invoke(app, ["inbox", "mail", "--test", "ana@example.com"])
    assert unset.exit_code == 2 and "no SMTP server is set: set REFINERY_SMTP_HOST" in unset.output
    with smtp_server() as (mailbox, port):
        monkeypatch.setenv("REFINERY_SMTP_HOST", "127.0.0.1")
        monkeypatch.setenv("REFINERY_SMTP_PORT", str(port))
        monkeypatch.setenv("REFINERY_SMTP_SECURITY", "none")
        get_settings.cache_clear()
        sent = runner.invoke(app, ["inbox", "mail", "--test", "ana@example.com"])
        assert sent.exit_code == 0 and "Sent a test message to ana@example.com" in sent.output, sent.output
        assert runner.invoke(app, ["inbox", "mail"]).output.strip() == "Mailed 0 lines."
    assert len(mailbox.to("ana@example.com")) == 1
    down = runner.invoke(app, ["inbox", "mail", "--test", "ana@example.com"])
    assert down.exit_code == 2 and "could not reach the SMTP server" in down.output


def test_a_mail_carries_a_one_click_unsubscribe_that_stops_that_persons_mail_without_a_login(client, llm):
    as_ = people(client)
    client.patch("/v1/auth/me", json={"email": "viewer@example.com"}, headers=as_["viewer"])
    draft_with_mentions(client, llm, as_, "@viewer look")
    db = client.app.state.runtime.db
    with smtp_server() as (mailbox, port):
        settings = mail_settings(client, port, desk_url="https://refinery.example.com")
        assert mail.mail_due(db, settings, utcnow() + LATER).sent == 1
    (sent,) = mailbox.to("viewer@example.com")
    link = sent["List-Unsubscribe"].strip("<>")
    assert link.startswith("https://refinery.example.com/v1/mail/unsubscribe?token=")
    assert sent["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert f"Stop these e-mails: {link}" in plain(sent)
    path = link.removeprefix("https://refinery.example.com")
    page = client.get(path)  # no login: opening it changes nothing
    assert page.status_code == 200 and "Stop mailing unread Refinery inbox lines to viewer@example.com?" in page.text
    assert client.get("/v1/auth/me", headers=as_["viewer"]).json()["email_notifications"] is True
    one_click = client.post(path, content="List-Unsubscribe=One-Click",
                            headers={"Content-Type": "application/x-www-form-urlencoded"})  # fmt: skip
    assert one_click.status_code == 200 and "No more e-mail to viewer@example.com" in one_click.text, one_click.text
    assert client.get("/v1/auth/me", headers=as_["viewer"]).json()["email_notifications"] is False
    draft_with_mentions(client, llm, as_, "@viewer again")
    assert mail.mail_due(db, mail_settings(client, free_port()), utcnow() + LATER) == mail.Round(0, None)
    wrong = client.post("/v1/mail/unsubscribe?token=not-a-token")
    assert wrong.status_code == 404 and "not (or no longer) valid" in wrong.text
    assert client.get("/v1/mail/unsubscribe").status_code == 404


def test_a_mail_has_an_html_part_whose_lines_are_links_and_whose_text_is_escaped(settings):
    line = Notification(text="ana commented on #3 (Export): <script>alert(1)</script> & more", suggestion_id=3)
    digest = mail.Digest("kim", "kim@example.com", "tok", "soon", [(line, "ops", "Ops")])
    sent = mail.message(digest, settings.model_copy(update={"desk_url": "https://refinery.example.com"}))
    assert sent.get_content_type() == "multipart/alternative"
    text = plain(sent)
    assert "- ana commented on #3 (Export): <script>alert(1)</script> & more\n  https://refinery.example.com/" in text
    html = sent.get_body(("html",)).get_content()
    assert '<a href="https://refinery.example.com/?project=ops#review/3">' in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; more</a>" in html and "<script>" not in html
    assert '<a href="https://refinery.example.com/v1/mail/unsubscribe?token=tok">Stop these e-mails</a>' in html
