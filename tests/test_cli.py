import getpass
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from service.cli import app
from service.core.settings import get_settings

runner = CliRunner()


@pytest.fixture(autouse=True)
def fresh_settings():
    """Settings are cached per process; each CLI test reads its own environment."""
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def drafts_in(tmp_path, monkeypatch, *titles: str):  # noqa: ANN201 (a Runtime, imported lazily as the CLI does)
    """A fresh data folder for the CLI (fake LLM) holding a pending story draft, with a warning, of each title."""
    monkeypatch.setenv("REFINERY_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("REFINERY_LLM_PROVIDER", "fake")
    get_settings.cache_clear()  # settings are cached per process: read this test's environment
    from service.core.enums import SuggestionKind
    from service.core.runtime import Runtime
    from service.core.suggestions import Proposal, create_suggestion
    from tests.conftest import story

    runtime = Runtime(get_settings())
    with runtime.db.session() as session:
        for title in titles:
            proposal = Proposal(story(title=title), "fake", "fake", "draft_story@test", warnings=["a warning"])
            create_suggestion(session, SuggestionKind.story_draft, proposal, {"text": title.lower()})
    return runtime


def test_draft_with_an_empty_text_is_a_cli_error(tmp_path, monkeypatch):
    monkeypatch.setenv("REFINERY_DATA_DIR", str(tmp_path))
    result = runner.invoke(app, ["draft", "   "])
    assert result.exit_code == 2
    assert "empty" in result.output


def test_backlog_list_reads_the_database(tmp_path, monkeypatch):
    monkeypatch.setenv("REFINERY_DATA_DIR", str(tmp_path))
    from service.core.runtime import Runtime

    runtime = Runtime(get_settings())
    from service.backlog import service as backlog
    from service.backlog.schemas import BacklogItemCreate

    with runtime.db.session() as session:
        backlog.import_items(
            session,
            [
                BacklogItemCreate(title="Export invoices", external_id="jira:J-1", story_points=13),
                BacklogItemCreate(title="As CSV", external_id="jira:J-2", parent="J-1"),
            ],
        )
    result = runner.invoke(app, ["backlog", "list", "--json"])
    assert result.exit_code == 0, result.output
    assert [i["title"] for i in json.loads(result.output)] == ["Export invoices", "As CSV"]
    table = runner.invoke(app, ["backlog", "list"], terminal_width=200)
    rows = [line.split("│")[1:-1] for line in table.output.splitlines() if "J-" in line]
    assert [[cell.strip() for cell in row] for row in rows] == [
        ["1", "J-1", "feature", "-", "13", "Export invoices", ""],
        ["2", "J-2", "feature", "-", "-", "As CSV (child of #1)", ""],
    ]
    found = runner.invoke(app, ["backlog", "list", "--search", "csv", "--type", "feature", "--state", "open"])
    assert found.exit_code == 0 and "Backlog (1 item)" in found.output and "As CSV" in found.output
    cut = runner.invoke(app, ["backlog", "list", "--limit", "1"])
    assert "Backlog (1 of 2 items)" in cut.output
    refused = runner.invoke(app, ["backlog", "list", "--state", "done", "--type", "epic"])
    assert refused.exit_code == 2 and "--state" in refused.output and "--type" in refused.output


def test_refinery_eval_runs_the_eval_entry_point():
    """`refinery eval` hands its arguments to `python -m evals` (the product CLI does not import the harness)."""
    result = subprocess.run(
        [sys.executable, "-m", "service.cli", "eval", "nope"], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 2 and "unknown suite 'nope'" in result.stderr and "drafting" in result.stderr


def test_draft_with_too_long_text_fails_before_loading_any_model(tmp_path, monkeypatch):
    monkeypatch.setenv("REFINERY_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("REFINERY_LLM_PROVIDER", "local")
    result = runner.invoke(app, ["draft", "x" * 9000])
    assert result.exit_code == 2 and "limit is 8000" in result.output
    assert not (tmp_path / "models").exists()


def test_ingest_runs_a_job_with_progress_and_reports_counts(tmp_path, monkeypatch):
    monkeypatch.setenv("REFINERY_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("REFINERY_LLM_PROVIDER", "fake")
    tickets = tmp_path / "reviews.jsonl"
    lines = [{"id": 1, "Message": "Great app, love it"}, {"id": 2, "Message": ""}, {"id": 3, "Message": "ok"}]
    tickets.write_text("\n".join(json.dumps(line) for line in lines))
    result = runner.invoke(app, ["ingest", str(tickets), "--map", "body=Message"])
    assert result.exit_code == 0, result.output
    assert "done" in result.output and "row 2: no usable text" in result.output
    assert re.search(r"skipped \(no text\)\s*│\s*1\s", result.output)  # a row per count: readable in 80 columns
    refused = runner.invoke(app, ["ingest", str(tickets), "--map", "body=Message"])
    assert refused.exit_code == 2 and "already uploaded as ingest job 1" in refused.output
    again = runner.invoke(app, ["ingest", str(tickets), "--map", "body=Message", "--force"])
    assert again.exit_code == 0, again.output
    from service.core.runtime import Runtime
    from service.ingest.service import get_job

    second = get_job(Runtime(get_settings()), 2)
    assert (second.status, second.already_ingested, second.processed) == ("done", 2, 0)
    wrong = runner.invoke(app, ["ingest", str(tickets), "--map", "body=Nope"])
    assert wrong.exit_code == 2 and "Nope" in wrong.output and "Message" in wrong.output
    missing = runner.invoke(app, ["ingest", str(tmp_path / "nope.csv")])
    assert missing.exit_code == 2 and "not a file" in missing.output


def test_strategy_and_prioritize_commands(tmp_path, monkeypatch):
    monkeypatch.setenv("REFINERY_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("REFINERY_LLM_PROVIDER", "fake")
    goals = tmp_path / "goals.md"
    goals.write_text("1. Reduce churn\n2. Grow premium\n")
    result = runner.invoke(app, ["strategy", "set", str(goals)])
    assert result.exit_code == 0 and "2 lines" in result.output
    assert "Reduce churn" in runner.invoke(app, ["strategy", "show"]).output
    assert runner.invoke(app, ["strategy", "set", str(tmp_path / "none.md")]).exit_code == 2
    empty = runner.invoke(app, ["prioritize"])
    assert empty.exit_code == 2 and "backlog has no open items" in empty.output
    assert runner.invoke(app, ["prioritize", "--framework", "kano"]).exit_code == 2


def test_prioritize_prints_a_narrow_ranking_with_dependencies_and_says_which_estimates_failed(tmp_path, monkeypatch):
    monkeypatch.setenv("REFINERY_DATA_DIR", str(tmp_path))
    from pipelines.llm.fake import fake_llm
    from service.backlog import service as backlog
    from service.backlog.schemas import BacklogItemCreate
    from service.core.runtime import Runtime
    from tests.test_prioritization_api import estimate

    items = [
        BacklogItemCreate(
            title="Save cards for faster checkout", description="Depends on SHOP-8.", external_id="jira:SHOP-7"
        ),
        BacklogItemCreate(title="PCI review of card storage", external_id="jira:SHOP-8"),
        BacklogItemCreate(title="Dark mode"),
    ]
    with Runtime(get_settings()).db.session() as session:
        cards, pci, dark = (i.id for i in backlog.import_items(session, items)[0])
    # one call at a time, in the items' order; none left for dark mode, whose estimate fails
    llm = fake_llm([estimate(reach=1000, depends_on=[pci]), estimate(reach=10)], max_attempts=1)
    monkeypatch.setattr(Runtime, "llm", lambda self: llm)
    result = runner.invoke(app, ["prioritize", "--item", str(cards), "--item", str(pci), "--item", str(dark)])
    assert result.exit_code == 0, result.output
    assert max(len(line) for line in result.output.splitlines()) <= 80  # the test runner's terminal
    rows = [line for line in result.output.splitlines() if re.match(r"│ \d", line)]
    assert [row.split("│")[2].strip() for row in rows] == [str(pci), str(cards)]  # the prerequisite first
    assert rows[1].split("│")[6].strip() == str(pci)  # the column of what it comes after
    assert f"1 estimate(s) failed (items {dark}) and are not ranked" in result.output


def test_export_command(tmp_path, monkeypatch):
    monkeypatch.setenv("REFINERY_DATA_DIR", str(tmp_path))
    from service.backlog import service as backlog
    from service.backlog.schemas import BacklogItemCreate
    from service.core.runtime import Runtime

    with Runtime(get_settings()).db.session() as session:
        backlog.import_items(session, [BacklogItemCreate(title="Dark mode", labels=["ui"])])
    result = runner.invoke(app, ["export", "--format", "jira_csv"])
    assert result.exit_code == 0 and result.output.startswith("Issue key,Issue ID,Summary,Issue Type,Description")
    assert "Dark mode,Story" in result.output
    out = tmp_path / "issues.json"
    assert runner.invoke(app, ["export", "--format", "github_json", "-o", str(out)]).exit_code == 0
    assert json.loads(out.read_text())[0]["title"] == "Dark mode"
    bad = runner.invoke(app, ["export", "--format", "xml"])
    assert bad.exit_code == 2 and "valid formats" in bad.output
    filtered = runner.invoke(app, ["export", "--format", "jira_csv", "--label", "ux"])
    assert filtered.exit_code == 0 and "Dark mode" not in filtered.output
    assert runner.invoke(app, ["export", "--state", "nope"]).exit_code == 2


def test_serve_starts_the_api_and_its_job_runner(tmp_path):
    import os
    import subprocess
    import sys
    import time
    import urllib.request

    from tests.postgres import _free_port

    port = _free_port()
    env = {**os.environ, "REFINERY_DATA_DIR": str(tmp_path), "REFINERY_LLM_PROVIDER": "fake"}
    server = subprocess.Popen(
        [sys.executable, "-m", "service.cli", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as response:
                    health = json.loads(response.read())
                    break
            except OSError:
                assert server.poll() is None, server.stdout.read()[-3000:]
                assert time.monotonic() < deadline, "refinery serve did not answer"
                time.sleep(0.5)
        assert health["status"] == "ok" and health["llm_provider"] == "fake"
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/jobs", timeout=5) as response:
            assert json.loads(response.read()) == []
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as response:
            assert "<title>Refinery review desk</title>" in response.read().decode()
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/static/desk.js", timeout=5) as response:
            assert "javascript" in response.headers["content-type"] and b"import" in response.read()
        # The server holds the embedded vector store: a second process writing to it would leave the server's
        # searches failing on stale segments, so a command that needs it is refused, and nothing is written.
        search = urllib.request.Request(
            f"http://127.0.0.1:{port}/v1/duplicates/search", data=b'{"text": "dark mode"}', method="POST",
            headers={"content-type": "application/json"},
        )  # fmt: skip
        with urllib.request.urlopen(search, timeout=60) as response:
            assert json.loads(response.read()) == []
        export = tmp_path / "jira.csv"
        export.write_text("Issue key,Summary,Issue Type\nSHOP-1,Dark mode,Story\n")
        command = [sys.executable, "-m", "service.cli", "import", str(export)]
        refused = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
        said = " ".join(refused.stderr.split())
        assert refused.returncode == 2 and "Traceback" not in said, said
        assert f"is in use by process {server.pid} (cli.py serve)" in said and "set CHROMA_HOST" in said, said
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/backlog", timeout=5) as response:
            assert json.loads(response.read()) == []  # refused before any row was written
        with urllib.request.urlopen(search, timeout=60) as response:  # the server's index still answers
            assert json.loads(response.read()) == []
    finally:
        server.terminate()
        server.wait(timeout=30)
    imported = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    assert imported.returncode == 0 and "1 imported" in imported.stdout, imported.stderr[-2000:]


def test_conversation_reports_a_file_without_speakers_and_a_model_that_fails(tmp_path, monkeypatch):
    monkeypatch.setenv("REFINERY_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("REFINERY_LLM_PROVIDER", "fake")  # no scripted replies: every chunk's call fails
    notes = tmp_path / "notes.txt"
    notes.write_text("we talked about the export\nand agreed on nothing\n")
    refused = runner.invoke(app, ["conversation", str(notes)])
    assert refused.exit_code == 2 and "no speaker" in refused.output.lower()
    notes.write_text("Anna: shall we ship the export on Friday?\nBen: yes, Friday.\n")
    result = runner.invoke(app, ["conversation", str(notes), "--title", "standup"])
    assert result.exit_code == 1 and "failed" in result.output and "1/1" in result.output, result.output
    assert "no scripted reply" in result.output  # the reason the chunk failed is shown


def test_conversation_reads_an_items_comments_with_item(tmp_path, monkeypatch):
    runtime = drafts_in(tmp_path, monkeypatch)
    from service.backlog.schemas import BacklogItemCreate
    from service.backlog.service import import_and_index
    from service.core.comments import Thread, add_comment

    (item,) = import_and_index(runtime, [BacklogItemCreate(title="Export invoices", external_id="SHOP-7")]).created
    item_id = item.id
    assert runner.invoke(app, ["conversation", "--item", "SHOP-7"]).exit_code == 2  # no comments yet
    with runtime.db.session() as session:
        add_comment(session, Thread(item_id=item_id), "ana", "Shall we ship the export on Friday?")
    notes = tmp_path / "notes.txt"
    notes.write_text("Anna: ship on Friday?\n")
    both = runner.invoke(app, ["conversation", str(notes), "--item", "SHOP-7"])
    assert both.exit_code == 2 and "not both" in both.output
    result = runner.invoke(app, ["conversation", "--item", "SHOP-7"])  # the fake model has no reply: the chunk fails
    assert result.exit_code == 1 and "1/1" in result.output and "no scripted reply" in result.output, result.output
    assert runner.invoke(app, ["conversation", "--item", "SHOP-99"]).exit_code == 2


def test_review_lists_shows_accepts_and_rejects_suggestions_from_the_terminal(tmp_path, monkeypatch):
    """`refinery review`: each decision is its own (one refused says why and the exit code is 1); who decided is
    --as; nothing is decided twice."""
    drafts_in(tmp_path, monkeypatch, "Price filter", "Dark mode", "CSV export")
    listed = runner.invoke(app, ["review", "list"], terminal_width=200)
    assert listed.exit_code == 0 and all(t in listed.output for t in ("Price filter", "Dark mode", "CSV export"))
    searched = runner.invoke(app, ["review", "list", "--search", "DARK"], terminal_width=200)
    assert "Dark mode" in searched.output and "CSV export" not in searched.output and "(1 shown)" in searched.output
    shown = runner.invoke(app, ["review", "show", "2"], terminal_width=200)
    assert "#2 story_draft (pending): Dark mode" in shown.output and "warning: a warning" in shown.output
    assert json.loads(runner.invoke(app, ["review", "show", "2", "--json"]).output)["payload"]["title"] == "Dark mode"
    assert runner.invoke(app, ["review", "show", "9"]).exit_code == 2
    accepted = runner.invoke(app, ["review", "accept", "1", "9", "--as", "ana"])
    assert accepted.exit_code == 1
    assert "accepted #1: backlog item #1" in accepted.output and "#9: no suggestion with id 9" in accepted.output
    assert runner.invoke(app, ["review", "reject", "2", "3", "--reason", " "]).exit_code == 2
    rejected = runner.invoke(app, ["review", "reject", "2", "3", "1", "--reason", "not now", "--as", "bo"])
    assert rejected.exit_code == 1 and "rejected #2" in rejected.output and "rejected #3" in rejected.output
    assert "#1: suggestion 1 is already accepted" in rejected.output
    assert runner.invoke(app, ["review", "list", "--status", "nope"]).exit_code == 2
    decided = json.loads(runner.invoke(app, ["review", "show", "3", "--json"]).output)
    assert (decided["status"], decided["reason"], decided["decided_by"]) == ("rejected", "not now", "bo")
    pending = runner.invoke(app, ["review", "list"], terminal_width=200)
    assert "Suggestions (0 shown)" in pending.output
    undone = runner.invoke(app, ["review", "undo", "3", "1", "--as", "cy"])  # the accepted draft's item is deleted
    assert undone.exit_code == 0 and "undone #3" in undone.output and "undone #1" in undone.output, undone.output
    assert json.loads(runner.invoke(app, ["review", "show", "1", "--json"]).output)["status"] == "pending"
    assert json.loads(runner.invoke(app, ["backlog", "list", "--json"]).output) == []
    again = runner.invoke(app, ["review", "undo", "3"])
    assert again.exit_code == 1 and "only a decision can be undone" in again.output


def test_review_comment_adds_to_a_suggestions_thread_which_show_and_list_print(tmp_path, monkeypatch):
    """`refinery review comment`: a comment on any suggestion, from the argument or standard input; `review show` prints
    the thread (markup in it as text), `review list` the count; an empty or unknown one is a CLI error."""
    drafts_in(tmp_path, monkeypatch, "Price filter")
    said = runner.invoke(app, ["review", "comment", "1", "In scope for [bold]Q3[/]?", "--as", "ana"])
    assert said.exit_code == 0 and "commented on #1 as ana" in said.output, said.output
    piped = runner.invoke(app, ["review", "comment", "1", "-"], input="Yes, after the redesign.\n")
    assert piped.exit_code == 0 and f"as {getpass.getuser()}" in piped.output
    shown = runner.invoke(app, ["review", "show", "1"], terminal_width=200)
    assert "comments (2):" in shown.output and ": In scope for [bold]Q3[/]?" in shown.output, shown.output
    assert ": Yes, after the redesign." in shown.output
    listed = runner.invoke(app, ["review", "list"], terminal_width=200)
    assert "comments" in listed.output and "│ 2 " in listed.output, listed.output
    assert json.loads(runner.invoke(app, ["review", "show", "1", "--json"]).output)["comment_count"] == 2
    empty = runner.invoke(app, ["review", "comment", "1", "  "])
    assert empty.exit_code == 2 and "the comment is empty" in empty.output
    long = runner.invoke(app, ["review", "comment", "1", "x" * 10_001])
    assert long.exit_code == 2 and "at most 10,000" in long.output
    unknown = runner.invoke(app, ["review", "comment", "9", "hello"])
    assert unknown.exit_code == 2 and "no suggestion with id 9" in unknown.output
    assert json.loads(runner.invoke(app, ["review", "show", "1", "--json"]).output)["comment_count"] == 2


def test_review_show_says_how_many_of_its_items_comments_a_rewrite_read(tmp_path, monkeypatch):
    from service.core.enums import SuggestionKind
    from service.core.suggestions import Proposal, create_suggestion
    from tests.conftest import story

    runtime = drafts_in(tmp_path, monkeypatch)
    with runtime.db.session() as session:
        made = Proposal(story(title="Export invoices"), "fake", "fake", "rewrite_story@test")
        inputs = {"backlog_item_id": 4, "fingerprint": "f", "title": "Export", "comment_ids": [7, 9]}
        create_suggestion(session, SuggestionKind.rewrite, made, inputs)
    shown = runner.invoke(app, ["review", "show", "1"], terminal_width=200)
    assert shown.exit_code == 0 and "made with item #4's 2 comments" in shown.output, shown.output


def test_rank_moves_items_by_id_or_key_and_refuses_an_unclear_place(tmp_path, monkeypatch):
    """`refinery rank`: items (ids or tracker keys) before or after another, to the top or bottom, or back to their
    scores; no place, two places or an unknown item are CLI errors."""
    monkeypatch.setenv("REFINERY_DATA_DIR", str(tmp_path))
    from service.backlog import service as backlog
    from service.backlog.schemas import BacklogItemCreate
    from service.core.runtime import Runtime

    with Runtime(get_settings()).db.session() as session:
        backlog.import_items(session, [BacklogItemCreate(title=f"T{k}", external_id=f"jira:J-{k}") for k in (1, 2, 3)])
    moved = runner.invoke(app, ["rank", "J-3", "--top", "--as", "ana"])
    assert moved.exit_code == 0 and "Ranked #3 to 1." in moved.output, moved.output
    assert "Ranked #1 to 3." in runner.invoke(app, ["rank", "1", "--after", "J-2"]).output
    listed = json.loads(runner.invoke(app, ["backlog", "list", "--json"]).output)
    assert [(i["id"], i["priority_rank"], i["ranked_by"]) for i in listed] == [
        (1, 3, getpass.getuser()), (2, 2, None), (3, 1, "ana"),
    ]  # fmt: skip
    table = runner.invoke(app, ["backlog", "list", "--by-rank"], terminal_width=200)
    rows = [[cell.strip() for cell in line.split("│")[1:3]] for line in table.output.splitlines() if "J-" in line]
    assert rows == [["1 by hand", "3"], ["2", "2"], ["3 by hand", "1"]]
    assert "Ranked #3 to 1." in runner.invoke(app, ["rank", "3", "--by-score"]).output  # no score yet: where it is
    for args, said in (
        (["rank", "1"], "say where"),
        (["rank", "1", "--top", "--bottom"], "say where"),
        (["rank", "J-9", "--top"], "no backlog item with id or key 'J-9'"),
        (["rank", "1", "--before", "1"], "is one of those moved"),
    ):
        refused = runner.invoke(app, args)
        assert refused.exit_code == 2 and said in refused.output, (args, refused.output)


def test_inbox_lists_a_persons_lines_and_marks_them_read_from_the_terminal(tmp_path, monkeypatch):
    """`refinery inbox`: the lines of `--as` (default: your login), unread ones starred, and the count; `inbox read`
    marks some or all read (or unread again); ids and --all together are a CLI error."""
    drafts_in(tmp_path, monkeypatch, "Price filter")
    runner.invoke(app, ["review", "comment", "1", "@bo please check the totals", "--as", "ana"])
    runner.invoke(app, ["review", "comment", "1", "@bo and the currency", "--as", "ana"])
    listed = runner.invoke(app, ["inbox", "--as", "bo"], terminal_width=200)
    assert listed.exit_code == 0, listed.output
    assert "ana mentioned you on story draft #1 (Price filter): @bo please check the totals" in listed.output
    assert "2 unread" in listed.output
    ids = [line["id"] for line in json.loads(runner.invoke(app, ["inbox", "--as", "bo", "--json"]).output)]
    marked = runner.invoke(app, ["inbox", "read", str(ids[1]), "--as", "bo"])
    assert marked.exit_code == 0 and "Marked 1 read; 1 unread." in marked.output, marked.output
    unread = json.loads(runner.invoke(app, ["inbox", "--as", "bo", "--unread", "--json"]).output)
    assert [line["id"] for line in unread] == [ids[0]]
    both = runner.invoke(app, ["inbox", "read", "--all", str(ids[0]), "--as", "bo"])
    assert both.exit_code == 2 and "not both" in both.output
    assert "Marked 1 read; 0 unread." in runner.invoke(app, ["inbox", "read", "--all", "--as", "bo"]).output
    assert (
        "Marked 2 unread; 2 unread." in runner.invoke(app, ["inbox", "read", "--all", "--unread", "--as", "bo"]).output
    )
    monkeypatch.setattr("getpass.getuser", lambda: "cy")
    assert "Nothing in cy's inbox." in runner.invoke(app, ["inbox"]).output
    watched = runner.invoke(app, ["inbox", "watch", "1"])
    assert watched.exit_code == 0 and "Your inbox follows #1 (watching)." in watched.output, watched.output
    runner.invoke(app, ["review", "comment", "1", "and the taxes", "--as", "ana"])
    assert "commented on story draft #1" in runner.invoke(app, ["inbox"], terminal_width=200).output
    muted = runner.invoke(app, ["inbox", "watch", "1", "--mute", "--as", "ana"])
    assert "Your inbox does not follow #1 (muted)." in muted.output
    assert "follows #1 (in its thread)" in runner.invoke(app, ["inbox", "watch", "1", "--reset", "--as", "ana"]).output
    unknown = runner.invoke(app, ["inbox", "watch", "9"])
    assert unknown.exit_code == 2 and "no suggestion with id 9" in unknown.output


def test_webhook_commands_add_ping_list_and_remove_against_a_real_receiver(tmp_path, monkeypatch):
    """`refinery webhook`: add (the secret shown once), ping (a real HTTP receiver gets it, signed), deliveries, list,
    remove; a bad URL or an unknown webhook is a CLI error."""
    monkeypatch.setenv("REFINERY_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("REFINERY_LLM_PROVIDER", "fake")
    from service.webhooks.delivery import SIGNATURE, sign
    from tests.webhook_receiver import receiver

    bad = runner.invoke(app, ["webhook", "add", "ftp://example.com/hook"])
    assert bad.exit_code == 2 and "URL scheme should be 'http' or 'https'" in bad.output
    unknown = runner.invoke(app, ["webhook", "add", "http://127.0.0.1/hook", "-e", "suggestion.eaten"])
    assert unknown.exit_code == 2 and "events" in unknown.output
    with receiver() as got:
        added = runner.invoke(app, ["webhook", "add", got.url, "-e", "comment.created", "--secret", "x" * 20])
        assert added.exit_code == 0 and "Added webhook 1: comment.created" in added.output, added.output
        assert "Signing secret (shown only now): " + "x" * 20 in added.output
        pinged = runner.invoke(app, ["webhook", "ping", "1"])
        assert pinged.exit_code == 0 and "Delivered 1 (ping): the receiver answered 200." in pinged.output
        assert got.events() == ["ping"] and got.received[0].headers[SIGNATURE.lower()] == sign(
            "x" * 20, got.received[0].raw
        )
    down = runner.invoke(app, ["webhook", "ping", "1"])  # the receiver has stopped
    assert down.exit_code == 2 and "delivery 2 was not delivered (failed): ConnectError" in down.output
    listed = runner.invoke(app, ["webhook", "list"], terminal_width=250)
    assert "Webhooks (1)" in listed.output and "ping: failed" in listed.output, listed.output
    deliveries = runner.invoke(app, ["webhook", "deliveries", "1"], terminal_width=250)
    assert "Deliveries (2)" in deliveries.output and "delivered" in deliveries.output
    assert runner.invoke(app, ["webhook", "remove", "1"]).exit_code == 0
    gone = runner.invoke(app, ["webhook", "ping", "1"])
    assert gone.exit_code == 2 and "no webhook with id 1" in gone.output


def test_a_cli_decision_is_sent_to_the_webhooks_as_the_command_ends(tmp_path, monkeypatch):
    """With no `refinery serve` running, the events a command makes are sent as it ends (a real command, a real
    receiver)."""
    import os

    from tests.webhook_receiver import receiver

    drafts_in(tmp_path, monkeypatch, "Price filter")
    with receiver() as got:
        assert runner.invoke(app, ["webhook", "add", got.url]).exit_code == 0
        env = os.environ | {"REFINERY_DATA_DIR": str(tmp_path), "REFINERY_LLM_PROVIDER": "fake"}
        command = [sys.executable, "-m", "service.cli", "review", "reject", "1", "--reason", "later", "--as", "ana"]
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0 and "rejected #1" in done.stdout, done.stderr
        assert got.events() == ["suggestion.rejected"]  # the draft was made before the webhook
        assert got.received[0].body["text"] == "ana rejected story draft #1: Price filter"


def test_review_assign_gives_suggestions_to_a_person_and_list_filters_by_them(tmp_path, monkeypatch):
    drafts_in(tmp_path, monkeypatch, "Price filter", "Dark mode", "CSV export")
    given = runner.invoke(app, ["review", "assign", "1", "2", "--to", "bo", "--as", "ana"])
    assert given.exit_code == 0 and "assigned #1 to bo" in given.output and "assigned #2 to bo" in given.output
    mine = runner.invoke(app, ["review", "assign", "3", "--to", "me"])
    assert mine.exit_code == 0 and f"assigned #3 to {getpass.getuser()}" in mine.output
    listed = runner.invoke(app, ["review", "list", "--assignee", "bo"], terminal_width=200)
    assert "(2 shown)" in listed.output and "Dark mode" in listed.output and "CSV export" not in listed.output
    header, row = (line for line in listed.output.splitlines() if "assignee" in line or "Dark mode" in line)
    assert row[header.index("assignee") :].startswith("bo "), listed.output  # under its own heading
    assert "CSV export" in runner.invoke(app, ["review", "list", "--assignee", "me"], terminal_width=200).output
    assert "assigned to bo" in runner.invoke(app, ["review", "show", "2"], terminal_width=200).output
    back = runner.invoke(app, ["review", "assign", "1", "--nobody"])
    assert back.exit_code == 0 and "assigned #1 to no one" in back.output
    assert "(1 shown)" in runner.invoke(app, ["review", "list", "--unassigned"], terminal_width=200).output
    assert runner.invoke(app, ["review", "assign", "1"]).exit_code == 2  # neither --to nor --nobody
    runner.invoke(app, ["review", "reject", "2", "--reason", "later"])
    refused = runner.invoke(app, ["review", "assign", "2", "9", "--to", "cy"])
    assert refused.exit_code == 1 and "only an undecided one is assigned" in refused.output
    assert "#9: no suggestion with id 9" in refused.output


def test_review_edit_accepts_a_story_with_the_fields_changed_in_the_editor(tmp_path, monkeypatch):
    """`refinery review edit`: the story's fields open in $EDITOR as JSON; what changed is accepted as edits; an
    unchanged file, bad JSON or an invalid story accepts nothing and keeps what was typed."""
    from service.core.enums import SuggestionKind
    from service.core.suggestions import Proposal, create_suggestion

    runtime = drafts_in(tmp_path, monkeypatch, "Price filter")
    with runtime.db.session() as session:
        merge = Proposal({"keep": {}, "fold_in": {}}, "fake", "fake", "merge@test")
        create_suggestion(session, SuggestionKind.merge, merge, {})
    editor = tmp_path / "editor.py"  # an editor that applies EDIT (a Python expression over the JSON `d`) to the file
    editor.write_text(
        "import json, os, sys\n"
        "path = sys.argv[1]\n"
        "d = json.load(open(path))\n"
        "exec(os.environ['EDIT'])\n"
        "open(path, 'w').write(d if isinstance(d, str) else json.dumps(d))\n"
    )
    monkeypatch.setenv("EDITOR", f"{sys.executable} {editor}")
    monkeypatch.setenv("EDIT", "pass")
    monkeypatch.setenv("COLUMNS", "300")  # the messages on one line
    unchanged = runner.invoke(app, ["review", "edit", "1"])
    assert unchanged.exit_code == 1 and "Nothing changed: #1 stays pending" in unchanged.output
    monkeypatch.setenv("EDIT", "d = '{\"title\": '")
    broken = runner.invoke(app, ["review", "edit", "1"])
    assert broken.exit_code == 2 and "not valid JSON" in broken.output, broken.output
    assert "#1 stays pending, your edits are in" in broken.output
    kept = broken.output.split("your edits are in")[1].split()[0]
    assert Path(kept).read_text() == '{"title": '
    monkeypatch.setenv("EDIT", "d['acceptance_criteria'] = []")
    invalid = runner.invoke(app, ["review", "edit", "1"])
    assert invalid.exit_code == 2 and "acceptance_criteria" in invalid.output, invalid.output
    monkeypatch.setenv("EDIT", "d['title'] = 'Filter by a price range'; d['labels'] = ['pricing']")
    edited = runner.invoke(app, ["review", "edit", "1", "--as", "ana"])
    assert edited.exit_code == 0, edited.output
    assert "accepted #1 with your edits (title, labels): backlog item #1" in edited.output
    item = json.loads(runner.invoke(app, ["backlog", "list", "--json"]).output)[0]
    assert (item["title"], item["labels"]) == ("Filter by a price range", ["pricing"])
    decided = json.loads(runner.invoke(app, ["review", "show", "1", "--json"]).output)
    assert decided["decided_by"] == "ana"
    again = runner.invoke(app, ["review", "edit", "1"])
    assert again.exit_code == 2 and "already accepted" in again.output
    nothing = runner.invoke(app, ["review", "edit", "2"])
    assert nothing.exit_code == 2 and "nothing to edit" in nothing.output
    edits = tmp_path / "edits.json"
    edits.write_text('{"title": "x"')
    assert runner.invoke(app, ["review", "edit", "2", "--file", str(edits)]).exit_code == 2


def test_review_edit_accepts_an_estimate_with_the_points_the_team_settled_on(tmp_path, monkeypatch):
    from service.backlog.schemas import BacklogItemCreate
    from service.backlog.service import import_and_index
    from service.core.enums import SuggestionKind
    from service.core.suggestions import Proposal
    from service.refinement.service import _create

    runtime = drafts_in(tmp_path, monkeypatch)
    monkeypatch.setenv("COLUMNS", "300")  # the messages on one line
    (item,) = import_and_index(runtime, [BacklogItemCreate(title="Export invoices")]).created
    proposal = Proposal({"points": 8, "rationale": "r", "comparables": []}, "m", "refinery", "estimate@3")
    made = _create(runtime, SuggestionKind.estimate, proposal, item, None, None)
    edits = tmp_path / "points.json"
    refusals = (('{"points": 0.5}', "points"), ('{"points": 5000}', "points"), ('{"points": null}', "0-1000"))
    for bad, said in (*refusals, ('{"title": "x"}', "title")):
        edits.write_text(bad)
        refused = runner.invoke(app, ["review", "edit", str(made.id), "--file", str(edits)])
        assert refused.exit_code == 2 and said in refused.output and "stays pending" in refused.output, refused.output
    edits.write_text('{"points": 5}')
    settled = runner.invoke(app, ["review", "edit", str(made.id), "--file", str(edits)])
    assert settled.exit_code == 0 and f"accepted #{made.id} with your edits (points)" in settled.output, settled.output
    assert json.loads(runner.invoke(app, ["backlog", "list", "--json"]).output)[0]["story_points"] == 5
    listed = runner.invoke(app, ["review", "list", "--status", "accepted"]).output
    assert "accepted with edits" in listed and '8 points for "Export invoices"; settled at 5' in listed, listed
    assert "(accepted with edits): 8 points" in runner.invoke(app, ["review", "show", str(made.id)]).output
    assert runner.invoke(app, ["review", "undo", str(made.id)]).exit_code == 0
    assert "with edits" not in runner.invoke(app, ["review", "list", "--status", "all"]).output  # pending again


def test_backlog_show_finds_an_item_by_id_or_tracker_key_with_its_children_and_pending_suggestions(
    tmp_path, monkeypatch
):
    monkeypatch.setenv("REFINERY_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("REFINERY_LLM_PROVIDER", "fake")
    monkeypatch.setenv("COLUMNS", "300")
    from service.backlog.schemas import BacklogItemCreate
    from service.backlog.service import import_and_index
    from service.core.enums import SuggestionKind
    from service.core.runtime import Runtime
    from service.core.suggestions import Proposal, create_suggestion

    runtime = Runtime(get_settings())
    import_and_index(runtime, [
        BacklogItemCreate(title="Checkout [beta]", description="Pay by card.", external_id="jira:SHOP-1",
                          labels=["epic"], story_points=13),
        BacklogItemCreate(title="Pay by card", external_id="jira:SHOP-12", parent="SHOP-1", closed=True),
        BacklogItemCreate(title="Pay by invoice", external_id="jira:SHOP-120", parent="SHOP-1"),
        BacklogItemCreate(title="Dark mode", external_id="github:acme/shop#7"),
    ])  # fmt: skip
    with runtime.db.session() as session:
        estimate = Proposal({"points": 8, "rationale": "like #2"}, "fake", "fake", "estimate@test")
        create_suggestion(
            session, SuggestionKind.estimate, estimate, {"backlog_item_id": 1, "title": "Checkout [beta]"}
        )
    shown = runner.invoke(app, ["backlog", "show", "SHOP-1"])
    assert shown.exit_code == 0, shown.output
    lines = shown.output.splitlines()
    assert lines[0] == "#1 SHOP-1 Checkout [beta]"  # a title is text, not markup
    assert "13 points" in lines[1] and "labels: epic" in lines[1]
    assert "child #2 Pay by card (closed)" in shown.output and "child #3 Pay by invoice" in shown.output
    assert 'pending: #1 estimate: 8 points for "Checkout [beta]"' in shown.output
    assert runner.invoke(app, ["backlog", "show", "shop-12"]).output.startswith("#2 SHOP-12 Pay by card (closed)")
    assert "child of #1" in runner.invoke(app, ["backlog", "show", "3"]).output
    assert runner.invoke(app, ["backlog", "show", "#7"]).output.startswith("#4 acme/shop#7 Dark mode")
    assert json.loads(runner.invoke(app, ["backlog", "show", "4", "--json"]).output)["title"] == "Dark mode"
    missing = runner.invoke(app, ["backlog", "show", "SHOP-9"])
    assert missing.exit_code == 2 and "no backlog item with id or key 'SHOP-9'" in missing.output
    assert runner.invoke(app, ["backlog", "show", "99"]).exit_code == 2


def test_backlog_add_searches_for_what_looks_alike_first_and_backlog_edit_changes_the_fields_given(
    tmp_path, monkeypatch
):
    monkeypatch.setenv("REFINERY_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("REFINERY_LLM_PROVIDER", "fake")
    monkeypatch.setenv("COLUMNS", "300")
    first = ["backlog", "add", "Export invoices as PDF", "-d", "Accountants download each invoice as a PDF."]
    added = runner.invoke(app, [*first, "--label", "Billing", "--points", "3", "--as", "ana"])
    assert added.exit_code == 0 and added.output.startswith("Added #1 Export invoices as PDF\n"), added.output
    assert "refinery refine --check --item 1" in added.output
    alike = ["backlog", "add", "Download invoices as PDF files", "--file", "-"]
    refused = runner.invoke(app, alike, input="Accountants want to download every invoice as a PDF.")
    assert refused.exit_code == 2 and "Export invoices as PDF" in refused.output and "--anyway" in refused.output
    assert "Loading weights" not in refused.output  # no model-loading bars on a command's output
    anyway = runner.invoke(app, [*alike, "--anyway", "--json"], input="Accountants want every invoice as a PDF.")
    assert anyway.exit_code == 0, anyway.output
    second = json.loads(anyway.output)
    assert (second["id"], second["description"]) == (2, "Accountants want every invoice as a PDF.")
    shown = runner.invoke(app, ["backlog", "show", "1"]).output
    assert "3 points" in shown and "labels: billing" in shown and "added by ana on " in shown
    for bad, says in [
        (["backlog", "add", " "], "TITLE: String should have at least 1 character"),
        (["backlog", "add", "x", "--type", "story"], "--type: Input should be 'feature'"),
        (["backlog", "add", "x", "-d", "a", "--file", "-"], "--description or --file, not both"),
        (["backlog", "edit", "1"], "nothing to change"),
        (["backlog", "edit", "1", "--points", "3", "--no-points"], "contradict"),
        (["backlog", "edit", "9", "--close"], "no backlog item with id 9"),
    ]:
        result = runner.invoke(app, bad)
        assert result.exit_code == 2 and says in " ".join(result.output.split()), (bad, result.output)
    assert len(json.loads(runner.invoke(app, ["backlog", "list", "--json"]).output)) == 2  # nothing added on errors
    edited = runner.invoke(app, ["backlog", "edit", "1", "--title", "Export invoices to PDF", "--no-points", "--close"])
    assert edited.output.strip() == "#1 Export invoices to PDF: title, story_points, closed changed", edited.output
    again = runner.invoke(app, ["backlog", "edit", "1", "--title", "Export invoices to PDF"])
    assert again.exit_code == 0 and "nothing changed" in again.output
    runner.invoke(app, ["backlog", "edit", "1", "--reopen", "--no-labels", "--as", "bo"])
    item = json.loads(runner.invoke(app, ["backlog", "show", "1", "--json"]).output)
    assert (item["story_points"], item["closed"], item["labels"]) == (None, False, [])
    from service.backlog.service import item_history
    from service.core.runtime import Runtime

    with Runtime(get_settings()).db.session() as session:
        events = [(e.action, e.actor, sorted(e.after)) for e in item_history(session, 1)]
    who = getpass.getuser()
    assert events == [
        ("added", "ana", []),
        ("edited", who, ["closed", "story_points", "title"]),
        ("edited", "bo", ["closed", "labels"]),
    ]


def test_refine_check_lists_the_findings_without_the_model_and_exits_1_when_there_are_some(tmp_path, monkeypatch):
    monkeypatch.setenv("REFINERY_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("REFINERY_LLM_PROVIDER", "fake")  # no scripted replies: a model call would fail
    monkeypatch.setenv("COLUMNS", "300")
    from service.backlog.schemas import BacklogItemCreate
    from service.backlog.service import import_and_index
    from service.core.runtime import Runtime
    from tests.test_refinement_api import CLEAR, VAGUE

    empty = runner.invoke(app, ["refine", "--check"])
    assert empty.exit_code == 2 and "the backlog has no open items: nothing to check" in empty.output
    import_and_index(Runtime(get_settings()), [BacklogItemCreate(**VAGUE), BacklogItemCreate(**CLEAR)])
    checked = runner.invoke(app, ["refine", "--check"])
    assert checked.exit_code == 1, checked.output
    assert checked.output.startswith("#1 Fast search\n") and '  unambiguous "Fast": ' in checked.output
    assert "#2" not in checked.output and "1 of 2 items have findings (" in checked.output
    listed = json.loads(runner.invoke(app, ["refine", "--check", "--json"]).output)
    assert [row["item_id"] for row in listed] == [1] and {"criterion", "span", "why", "fix"} <= set(
        listed[0]["findings"][0]
    )
    clear = runner.invoke(app, ["refine", "--check", "--item", "2"])
    assert clear.exit_code == 0 and "0 of 1 items have findings" in clear.output
    assert runner.invoke(app, ["refine", "--json"]).exit_code == 2  # --json goes with --check
    assert runner.invoke(app, ["review", "list"]).output.count("story_draft") == 0  # nothing was suggested
    # the team's Definition of Ready: the criteria it checks, the size that fits a sprint
    shown = runner.invoke(app, ["readiness"])
    assert "Checked: well_formed, atomic," in shown.output and "at most 8 points" in shown.output
    only = runner.invoke(app, ["readiness", "--criterion", "estimable", "--max-points", "2"])
    assert only.exit_code == 0 and "Checked: estimable (not checked: well_formed," in only.output, only.output
    checked = runner.invoke(app, ["refine", "--check"])  # the vague words are not checked; the 3 points are too many
    assert checked.output.startswith("#2 ") and "estimable" in checked.output and "unambiguous" not in checked.output
    for bad, says in (
        (["readiness", "--criterion", "clarity"], "--criterion clarity is unknown"),
        (["readiness", "--max-points", "0"], "--max-points: Input should be greater than or equal to 1"),
        (["readiness", "--default", "--max-points", "3"], "--default sets both"),
    ):
        refused = runner.invoke(app, bad)
        assert refused.exit_code == 2 and says in refused.output, (bad, refused.output)
    assert "at most 2 points" in runner.invoke(app, ["readiness"]).output
    assert "at most 8 points" in runner.invoke(app, ["readiness", "--default"]).output


def test_review_list_says_what_each_kind_proposes():
    from types import SimpleNamespace

    from service.core.summaries import summary

    def said(kind: str, payload: dict, given: dict | None = None) -> str:
        return summary(SimpleNamespace(kind=kind, payload=payload, input=given or {}, reason=None))

    assert said("merge", {"fold_in": {"title": "A"}, "keep": {"title": "B"}}) == 'Merge "A" into "B"'
    assert said("evidence", {"title": "Login"}) == 'Evidence for "Login"'
    assert said("priority", {"title": "Login", "proposed_priority": "High"}) == 'Priority of "Login": High'
    assert said("item_change", {"item_title": "Login", "detail": "add SSO"}) == 'Change to "Login": add SSO'
    assert said("decision", {"decision": "Ship SSO first"}) == "Ship SSO first"
    assert said("action_item", {"task": "Ana drafts the SSO spec"}) == "Ana drafts the SSO spec"
    assert said("estimate", {"points": 5}, {"title": "Login"}) == '5 points for "Login"'
    assert (
        said("estimate", {"points": 5, "low": 3, "high": 8}, {"title": "Login"}) == '5 points (likely 3-8) for "Login"'
    )
    assert said("estimate", {"points": 5, "low": 5, "high": 5}, {"title": "Login"}) == '5 points for "Login"'
    rewrite = {"title": "Login", "acceptance_criteria": [{}, {}, {}], "open_questions": []}
    assert said("rewrite", rewrite, {"title": "Login"}) == 'Rewrite "Login" (3 criteria)'  # not 'as "Login"'
    assert said("split", {"children": [{}, {}], "pattern": "crud_operations"}, {"title": "Login"}) == (
        'Split "Login" into 2 stories (crud_operations)'
    )
    assert said("story_draft", {"raw_output": "{"}, {"text": "an idea\n  with  lines"}) == "an idea with lines"


def test_backlog_labels_lists_the_labels_in_use(tmp_path, monkeypatch):
    runtime = drafts_in(tmp_path, monkeypatch)
    from service.backlog.schemas import BacklogItemCreate
    from service.backlog.service import import_and_index

    import_and_index(runtime, [BacklogItemCreate(title="Export invoices", labels=["billing", "csv"]),
                               BacklogItemCreate(title="Email invoices", labels=["Billing"])])  # fmt: skip
    shown = runner.invoke(app, ["backlog", "labels"], terminal_width=120)
    assert shown.exit_code == 0 and "Labels (2)" in shown.output and "billing" in shown.output, shown.output
    listed = json.loads(runner.invoke(app, ["backlog", "labels", "--json"]).output)
    assert listed == [{"label": "billing", "items": 2}, {"label": "csv", "items": 1}]
