import json

import pytest
from typer.testing import CliRunner

from service.cli import app, get_settings

runner = CliRunner()


@pytest.fixture(autouse=True)
def fresh_settings():
    """Settings are cached per process; each CLI test reads its own environment."""
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def test_draft_with_an_empty_text_is_a_cli_error(tmp_path, monkeypatch):
    monkeypatch.setenv("REFINERY_DATA_DIR", str(tmp_path))
    result = runner.invoke(app, ["draft", "   "])
    assert result.exit_code == 2
    assert "empty" in result.output


def test_backlog_list_reads_the_database(tmp_path, monkeypatch):
    monkeypatch.setenv("REFINERY_DATA_DIR", str(tmp_path))
    from service.runtime import Runtime

    runtime = Runtime(get_settings())
    from service import backlog
    from service.schemas import BacklogItemCreate

    with runtime.db.session() as session:
        backlog.import_items(session, [BacklogItemCreate(title="Export invoices", external_id="J-1")])
    result = runner.invoke(app, ["backlog", "list", "--json"])
    assert result.exit_code == 0, result.output
    assert [i["title"] for i in json.loads(result.output)] == ["Export invoices"]
    table = runner.invoke(app, ["backlog", "list"])
    assert "Export invoices" in table.output


def test_unknown_eval_suite_is_a_cli_error():
    result = runner.invoke(app, ["eval", "nope"])
    assert result.exit_code == 2 and "unknown suite" in result.output


def test_draft_with_too_long_text_fails_before_loading_any_model(tmp_path, monkeypatch):
    monkeypatch.setenv("REFINERY_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("REFINERY_LLM_PROVIDER", "local")
    result = runner.invoke(app, ["draft", "x" * 9000])
    assert result.exit_code == 2 and "limit is 8000" in result.output
    assert not (tmp_path / "models").exists()
