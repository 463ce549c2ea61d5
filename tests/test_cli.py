import json

from typer.testing import CliRunner

from service.cli import app

runner = CliRunner()


def test_draft_with_an_empty_text_is_a_cli_error(tmp_path, monkeypatch):
    monkeypatch.setenv("REFINERY_DATA_DIR", str(tmp_path))
    result = runner.invoke(app, ["draft", "   "])
    assert result.exit_code == 2
    assert "empty" in result.output


def test_backlog_list_reads_the_database(tmp_path, monkeypatch):
    monkeypatch.setenv("REFINERY_DATA_DIR", str(tmp_path))
    from service.cli import get_settings

    get_settings.cache_clear()
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
    get_settings.cache_clear()


def test_unknown_eval_suite_is_a_cli_error():
    result = runner.invoke(app, ["eval", "nope"])
    assert result.exit_code == 2 and "unknown suite" in result.output
