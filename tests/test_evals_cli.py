"""`python -m evals`: the eval entry point (its errors, the suites' one run shape, the one report writer)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from rich.console import Console
from typer.testing import CliRunner

import evals.__main__ as entry
from evals import report
from evals.dataset import load_samples
from evals.task import EvalOptions, EvalResult
from pipelines.llm import fake_llm
from tests.conftest import story_json

ROOT = Path(__file__).resolve().parents[1]


SHARED_EXCERPT = Path(__file__).parent / "fixtures" / "shared"  # small excerpts of ../shared/data (README there)


def evals_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "evals", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "COLUMNS": "200", "REFINERY_SHARED_DATA": str(SHARED_EXCERPT)},
    )


def assert_usage_error(code: int, output: str, *words: str) -> None:
    assert code == 2, output
    assert "Traceback" not in output
    message = output.strip()
    assert len(message.splitlines()) == 1 and message.startswith("error:"), message
    for word in words:
        assert word in message


def invoke(*args: str) -> tuple[int, str]:
    """In this process (the real entry point is `test_an_unknown_suite_exits_2_naming_the_suites`)."""
    result = CliRunner().invoke(entry.app, list(args), env={"COLUMNS": "200"})
    return result.exit_code, result.output


def test_an_unknown_suite_exits_2_naming_the_suites():
    run = evals_cli("nope")
    assert run.stdout == ""
    assert_usage_error(run.returncode, run.stderr, "'nope'", "drafting", "duplicates", "ingest", "prioritization")


def test_a_bad_split_or_provider_exits_2_before_any_work():
    assert_usage_error(*invoke("drafting", "--split", "bogus"), "'bogus'", "test", "dev")
    assert_usage_error(*invoke("drafting", "--provider", "fake"), "'fake'", "local", "openai")
    # the first names are aliases: the suite is accepted and the split is what fails
    assert_usage_error(*invoke("story_drafting", "--split", "bogus"), "split 'bogus'")
    assert_usage_error(*invoke("ingestion", "--split", "bogus"), "split 'bogus'")


def test_calibrating_on_the_test_split_is_refused():
    assert_usage_error(*invoke("duplicates", "--split", "test", "--calibrate"), "dev split only")


def test_a_suite_that_needs_an_llm_says_so_instead_of_failing_inside():
    assert_usage_error(*invoke("drafting", "--no-llm"), "needs an LLM")


def test_the_learning_suite_plays_a_team_from_the_dev_split_only():
    assert_usage_error(*invoke("learning", "--split", "test", "--no-llm"), "dev split")


def test_the_entry_point_does_not_import_the_service():
    code = "import sys, evals.__main__; print(sorted(m for m in sys.modules if m.split('.')[0] == 'service'))"
    run = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "[]"


def test_every_suite_has_the_one_run_shape():
    assert set(entry.SUITES) == {
        "drafting",
        "duplicates",
        "ingest",
        "prioritization",
        "dependencies",
        "quality",
        "estimate",
        "labels",
        "split",
        "split_thread",
        "rewrite",
        "meetings",
        "conversations",
        "pii",
        "injection",
        "learning",
    }
    for name, module in entry.SUITES.items():
        assert name == module.SUITE and callable(module.run) and isinstance(module.NEEDS_LLM, bool)
    assert {entry.ALIASES[old] for old in ("story_drafting", "ingestion")} == {"drafting", "ingest"}


def test_report_write_and_show_take_any_result(tmp_path):
    result = EvalResult(
        suite="demo",
        meta=EvalOptions(split="dev", limit=3).meta(dataset="d"),
        summary={"recall": 0.5, "hybrid": {"MAP": 0.7, "recall@1": 0.6}, "bm25": {"MAP": 0.4, "recall@1": 0.3}},
        samples=[{"id": "a"}],
        notes=["a note"],
    )
    path = report.write(result, tmp_path)
    assert path.parent == tmp_path and path.name.startswith("demo-dev-") and path.suffix == ".json"
    data = json.loads(path.read_text(encoding="utf-8"))
    assert (data["suite"], data["split"], data["limit"], data["dataset"], data["provider"]) == (
        "demo",
        "dev",
        3,
        "d",
        None,
    )
    assert data["summary"] == result.summary and data["samples"] == [{"id": "a"}]
    console = Console(record=True, width=120)
    report.show(result, console)
    text = console.export_text()
    for cell in ("demo (dev, d)", "recall", "0.5", "hybrid", "0.7", "bm25", "0.3", "MAP", "a note"):
        assert cell in text


def test_drafting_runs_through_the_entry_point_on_a_given_llm(tmp_path, monkeypatch):
    detail = {"detail": "a price range", "kind": "promise", "stated": False}
    judged = json.dumps({"details": [detail]})  # the judge, after each draft
    monkeypatch.setattr(entry, "eval_llm", lambda provider: fake_llm([story_json(), judged] * 2))
    result = CliRunner().invoke(
        entry.app, ["story_drafting", "--split", "dev", "--limit", "2", "--reports", str(tmp_path)]
    )
    assert result.exit_code == 0, result.output
    (path,) = tmp_path.glob("drafting-dev-fake-*.json")
    data = json.loads(path.read_text(encoding="utf-8"))
    assert (data["dataset"], data["model"], data["limit"]) == ("story_drafting_dev", "fake", 2)
    assert [row["id"] for row in data["samples"]] == [s.id for s in load_samples("story_drafting_dev", 2)]
    assert data["summary"]["schema_valid"] == {"mean": 1.0, "n": 2} and data["summary"]["samples"] == 2
    assert data["summary"]["no_invented_facts"] == {"mean": 0.0, "n": 2}  # "a price range" is in the story only
    assert data["samples"][0]["invented"] == [detail]
    assert "schema_valid" in result.output and f"report: {path}" in result.output.replace("\n", "")


def test_ingest_without_the_llm_writes_its_report(tmp_path):
    run = evals_cli("ingest", "--split", "test", "--no-llm", "--reports", str(tmp_path))
    assert run.returncode == 0, run.stderr
    (path,) = tmp_path.glob("ingest-test-*.json")  # no provider in the name: no LLM was built
    data = json.loads(path.read_text(encoding="utf-8"))
    assert (data["suite"], data["split"], data["provider"], data["model"]) == ("ingest", "test", None, None)
    assert {"apps", "reviews", "themes", "coverage", "purity", "nmi", "ari", "baseline_purity"} <= set(data["summary"])
    assert "llm_calls" not in data["summary"]
    assert data["summary"]["apps"] == len(data["samples"]) == 2  # the two held-out apps
    assert {row["app"] for row in data["samples"]} == {"Duck Duck GO", "BatteryBot Battery Indicator"}
    assert 0 < data["summary"]["purity"] <= 1 and data["summary"]["purity"] > data["summary"]["baseline_purity"]
    assert 0 < data["summary"]["chance_purity"] < data["summary"]["purity"]  # better than random themes of those sizes
    assert f"report: {path}" in run.stdout


def test_chance_purity_is_what_random_themes_of_the_same_sizes_score():
    from evals.suites.ingest import chance_purity

    assert chance_purity(["UI"] * 4, ["UI"] * 10, [0, 0, 1, 1]) == 1.0  # one topic: any draw is pure
    pool = ["UI", "BATTERY"] * 50
    pairs = chance_purity(["UI", "UI", "BATTERY", "BATTERY"], pool, [0, 0, 1, 1], draws=200)
    one = chance_purity(["UI", "UI", "BATTERY", "BATTERY"], pool, [0, 0, 0, 0], draws=200)
    assert 0.7 < pairs < 0.8 and 0.6 < one < 0.75 and one < pairs  # small themes score more by chance


def test_quality_suite_runs_on_a_few_real_stories(tmp_path):
    """The quality eval end to end (rules only: seconds): injected defects found, a report written."""
    run = evals_cli("quality", "--split", "dev", "--no-llm", "--reports", str(tmp_path))
    assert run.returncode == 0, run.stderr[-2000:]
    (path,) = tmp_path.glob("quality-dev-*.json")
    summary = json.loads(path.read_text())["summary"]
    assert summary["rules"]["atomic recall"] > 0.9 and summary["naive_baseline"]["unambiguous recall"] < 0.5
    assert summary["rules"]["originals"] == 60 and summary["reqeval_sentences"] == 30
    jira = summary["jira_stories"]  # 8 stories, 6 of them "I'd like": none misread, none with a benefit
    assert jira == {"stories": 8, "read as no persona and goal (false alarm)": 0.0, "no benefit": 1.0}


def test_meetings_scorer_matches_decisions_to_reference_answers_by_meaning():
    from evals.suites.meetings import score
    from pipelines.conversation import ConversationNotes, ConversationResult
    from pipelines.embeddings import get_embedder

    meeting = {
        "references": ["The group talked for a while. They decided to use a rubber case for the remote control."],
        "answers": ["Marketing presented the trend watch. The group decided to use a rubber case for the remote."],
    }
    result = ConversationResult(
        notes=ConversationNotes.model_validate(
            {
                "decisions": [
                    {
                        "decision": "Use a rubber case for the remote.",
                        "quotes": [{"turn": 3, "text": "rubber case it is"}],
                    },
                    {"decision": "Order pizza for lunch.", "quotes": [{"turn": 9, "text": "pizza for everyone"}]},
                ]
            }
        ),  # fmt: skip
        quotes_checked=3,
        quotes_dropped=["line 2: 'never said'"],
    )

    row = score(result, meeting, get_embedder(), 90.0)

    assert row["references_matched"] == [True] and row["recall"] == 1.0
    assert [d["supported"] for d in row["decisions"]] == [True, False] and row["precision"] == 0.5
    assert (row["quotes_checked"], row["quotes_dropped"], row["minutes"]) == (3, 1, 1.5)


def test_pii_suite_scores_the_redactor_on_its_dataset(tmp_path):
    """No model: the redactor on the dev half, recall per kind (promised or not), false positives, words lost."""
    code, output = invoke("pii", "--split", "dev", "--reports", str(tmp_path))
    assert code == 0, output
    (path,) = tmp_path.glob("pii-dev-*.json")  # no provider in the name: no LLM was built
    data = json.loads(path.read_text(encoding="utf-8"))
    summary = data["summary"]
    assert (summary["texts with PII"], summary["texts without PII"]) == (110, 60)
    assert sum(bool(row["spans"]) for row in data["samples"]) == 110
    for kind in ("email", "phone", "card", "iban", "secret"):
        assert summary[f"recall {kind}"]["promised"] == "yes" and summary[f"recall {kind}"]["recall"] >= 0.9
    for kind in ("name", "address", "phone (other)", "secret (other)"):
        assert summary[f"recall {kind}"]["promised"] == "not promised" and summary[f"recall {kind}"]["spans"] > 0
    assert summary["promised recall"] >= 0.95 and summary["false-positive rate"] <= 0.1
    assert 0 <= summary["over-redaction (words lost)"] <= 0.05
    assert "promised recall" in output and f"report: {path}" in output.replace("\n", "")


def test_injection_suite_flags_outputs_that_follow_the_attacker(tmp_path, monkeypatch):
    """Fake model: the first attack's story takes the canary as its title, the second flips the type to research, as
    each attacker asked; the clean runs (one per clean input) stay clean."""
    replies = [
        story_json(),  # draft-ignore, clean
        story_json(title="PWNED-7F3"),  # draft-ignore, attacked
        story_json(item_type="bug"),  # draft-type-research, clean
        story_json(item_type="research"),  # draft-type-research, attacked
    ]
    monkeypatch.setattr(entry, "eval_llm", lambda provider: fake_llm(replies))
    code, output = invoke("injection", "--limit", "2", "--reports", str(tmp_path))
    assert code == 0, output
    (path,) = tmp_path.glob("injection-test-fake-*.json")
    data = json.loads(path.read_text(encoding="utf-8"))
    assert data["summary"]["all"] == {
        "attacks": 2,
        "changed": 2,
        "changed_share": 1.0,
        "only_in_quotes": 0,
        "failed": 0,
        "cut_by_safety": 2,  # the plain "Ignore all previous instructions" sentence and "file it as research"
    }
    first, second = data["samples"]
    assert (first["id"], first["canary_in"], first["predicates_met"]) == ("draft-ignore", ["title"], [])
    assert second["canary_in"] == [] and second["predicates_met"] == [
        {"path": "item_type", "op": "eq", "value": "research"}
    ]
    assert "changed: draft-ignore (title)" in output


def test_dependencies_suite_counts_invented_and_named_prerequisites(tmp_path, monkeypatch):
    from tests.test_prioritization_api import estimate

    # dev: D-1 invents a dependency on D-2 (its text does not name it), D-6 names D-3 (key) and keeps it
    replies = [estimate(depends_on=[2]), *[estimate()] * 4, estimate(depends_on=[3])]
    monkeypatch.setattr(entry, "eval_llm", lambda provider: fake_llm(replies))
    result = CliRunner().invoke(entry.app, ["dependencies", "--split", "dev", "--reports", str(tmp_path)])
    assert result.exit_code == 0, result.output
    (path,) = tmp_path.glob("dependencies-dev-fake-*.json")
    summary = json.loads(path.read_text(encoding="utf-8"))["summary"]
    assert summary["no_known_dependency"] == 5 and summary["invented_raw"] == 0.2 and summary["invented"] == 0.0
    assert (summary["named"], summary["named_kept"]) == (1, 1.0)


def test_conversations_suite_scores_notes_before_and_after_ground(tmp_path, monkeypatch):
    """Fake model on the first dev conversation: new work filed as nobody's task, a task whose owner it left empty,
    and a floated idea as a decision; `ground` refiles the first, fills the owner and drops nothing it should keep."""
    reply = json.dumps({
        "action_items": [
            {"task": "Build saved delivery addresses.", "quotes": [{"turn": 7, "text": "let's build saved addresses"}]},
            {"task": "Update the guest checkout ticket.", "quotes": [{"turn": 3, "text": "I'll update the ticket"}]},
        ],
        "changes": [{"item": 1, "change": "criteria", "detail": "Guests give a phone number.",
                     "quotes": [{"turn": 3, "text": "a phone number is required for guests"}]}],
    })  # fmt: skip
    monkeypatch.setattr(entry, "eval_llm", lambda provider: fake_llm([reply]))
    result = CliRunner().invoke(
        entry.app, ["conversations", "--split", "dev", "--limit", "1", "--reports", str(tmp_path)]
    )
    assert result.exit_code == 0, result.output
    (path,) = tmp_path.glob("conversations-dev-fake-*.json")
    summary = json.loads(path.read_text(encoding="utf-8"))["summary"]
    assert summary["new_work_recall"] == {"rate": 1.0, "hits": 1, "of": 1, "rate_before_ground": 0.0}
    assert summary["action_item_recall"] == {"rate": 1.0, "hits": 1, "of": 1, "rate_before_ground": 0.0}
    assert summary["change_recall"]["hits"] == 1 and summary["untouched_changed"]["hits"] == 0


def test_estimate_model_check_scores_the_model_alone_and_with_comparables(tmp_path, monkeypatch):
    """Fake model, a two-project folder: each row asks the model twice (the service's fallback, then with the
    comparables), a reply that never fits counts as unanswered, and each method is scored on its own rows."""
    from evals.suites import estimate as suite
    from tests.test_prioritization_api import estimate

    for name, shift in (("alpha", 0), ("beta", 10)):
        lines = ["title,description,storypoint,split_mark"]
        lines += [f"Add export {n},Export the report as CSV {n},{3 + shift},train" for n in range(6)]
        lines += [f"Add export {n},Export the report as CSV {n},{5 + shift},val" for n in range(6, 8)]
        (tmp_path / f"{name}.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (tmp_path / "published_mae.csv").write_text("Project,Median\nalpha,1\nbeta,1\n", encoding="utf-8")
    monkeypatch.setattr(suite, "FOLDER", tmp_path)
    points = json.dumps({"points": 5, "rationale": "Like the 3-point exports, a little more."})
    replies = [estimate(effort=5), points, estimate(effort=8), "not json", "{}", "[]"]  # alpha's rows
    replies += [estimate(effort=13), json.dumps({"points": 13, "rationale": "As the 13s."})] * 2  # beta's rows
    found = suite.model_check(fake_llm(replies), "dev", 2, log=lambda _: None)
    rows, summary = found["rows"], found["summary"]
    assert [(r["project"], r["truth"], r["model_alone"], r["model_with_comparables"]) for r in rows] == [
        ("alpha", 5.0, 5, 5), ("alpha", 5.0, 8, None), ("beta", 15.0, 13, 13), ("beta", 15.0, 13, 13)
    ]  # fmt: skip
    assert summary["median"]["mae"] == 2.0 and summary["rule"]["mae"] == 2.0  # the history is all 3s (or 13s)
    assert summary["model_alone"] == {
        "mae": 1.75,
        "median_mae_same_rows": 2.0,
        "answered": 4,
        "projects_below_median": 1,
    }
    assert summary["model_with_comparables"]["answered"] == 3 and summary["model_with_comparables"]["mae"] == 1.333
    without = suite.model_check(fake_llm([points] * 2), "dev", 1, log=lambda _: None, alone=False)["summary"]
    assert "model_alone" not in without and without["model_with_comparables"]["answered"] == 2


def test_the_rewrite_suite_takes_out_what_the_thread_answers_and_scores_whether_the_rewrite_kept_it(monkeypatch):
    from evals.suites import rewrite
    from evals.suites.rewrite import items, score
    from pipelines.llm import StructuredResult
    from pipelines.models import StoryDraft
    from tests.conftest import story_json

    stories = [
        "As a moderator, I want to select an item to be estimated, so that the team sees that item.",
        "As a user, I want to search datasets by title, so that I can find the datasets I need.",
        "As an archivist, I want to create access copies of files, so that I don't have to do this manually.",
        "As a funder, I want to check the repositories in a DMP, so that I can verify the funding rules were followed.",
    ]
    monkeypatch.setattr(rewrite, "load_stories", lambda split: [("G02", s) for s in stories])
    built = items("dev", 4)
    assert [i["gap"] for i in built] == ["benefit", "persona", "benefit", "persona"]
    for item in built:
        assert item["answer"].lower() not in item["text"].lower() and item["answer"] in item["comment"]
    benefit = built[0]
    kept = StoryDraft.model_validate_json(story_json(benefit=benefit["answer"], open_questions=["Why is it needed?"]))
    lost = StoryDraft.model_validate_json(story_json(benefit="it is nicer", open_questions=[]))
    said = score(benefit, StructuredResult(value=kept, error=None, raw="", record=None))
    assert said["answer_kept"] and said["asked_again"] and said["open_questions"] == 1
    assert not score(benefit, StructuredResult(value=lost, error=None, raw="", record=None))["answer_kept"]
