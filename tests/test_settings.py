from pathlib import Path

import pytest

from pipelines.llm import LLMUnavailable, build_llm
from service.core.settings import Settings


def test_local_is_the_default_without_an_api_key(monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("REFINERY_LLM_PROVIDER", raising=False)
    assert Settings(_env_file=None).llm_provider == "local"


def test_an_api_key_switches_the_default_to_openai(monkeypatch):
    monkeypatch.delenv("REFINERY_LLM_PROVIDER", raising=False)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    settings = Settings(_env_file=None)
    assert settings.llm_provider == "openai"
    monkeypatch.setenv("REFINERY_LLM_PROVIDER", "local")
    assert Settings(_env_file=None).llm_provider == "local"


def test_env_file_and_database_default(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    Path(".env").write_text("REFINERY_DATA_DIR=store\nREFINERY_LLM_PROVIDER=fake\nREFINERY_LLM_MODEL=m1\n")
    settings = Settings()
    assert settings.llm_provider == "fake" and settings.llm_model == "m1"
    assert settings.db_url == f"sqlite:///{tmp_path / 'store' / 'refinery.db'}"
    monkeypatch.setenv("DATABASE_URL", "postgresql://u:p@127.0.0.1/refinery")
    assert Settings().db_url == "postgresql://u:p@127.0.0.1/refinery"


def test_local_model_setting_picks_the_model(monkeypatch):
    monkeypatch.setenv("REFINERY_LOCAL_MODEL", "qwen2.5-coder-0.5b")
    config = Settings(_env_file=None, REFINERY_LLM_PROVIDER="local").llm_config()
    assert config.provider == "local" and config.model == "qwen2.5-coder-0.5b"


def test_openai_provider_honours_base_url_and_model(monkeypatch):
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:8080/v1")
    monkeypatch.setenv("REFINERY_LLM_MODEL", "qwen2.5-7b-instruct")
    monkeypatch.setenv("REFINERY_LLM_PROVIDER", "openai")
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    llm = build_llm(Settings(_env_file=None).llm_config())
    assert (llm.provider, llm.model) == ("openai", "qwen2.5-7b-instruct")
    assert str(llm.chat.openai_api_base) == "http://127.0.0.1:8080/v1"


def test_openai_without_key_or_url_says_what_to_set(monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    with pytest.raises(LLMUnavailable, match="OPENAI_API_KEY"):
        build_llm(Settings(_env_file=None, REFINERY_LLM_PROVIDER="openai").llm_config())


def test_speculative_decoding_reaches_the_model_server_command(monkeypatch):
    from pipelines.llm.server import ModelServer, ServerOptions

    monkeypatch.delenv("REFINERY_LLM_SPECULATIVE", raising=False)
    assert Settings(_env_file=None).llm_config().speculative == "ngram-simple:3:4"
    command = ModelServer(ServerOptions(speculative="ngram-simple:3:4"), lambda: Path("m.gguf")).command(Path("m"))
    assert command[-6:] == [
        "--spec-type", "ngram-simple", "--spec-ngram-simple-size-n", "3", "--spec-ngram-simple-size-m", "4"
    ]  # fmt: skip
    monkeypatch.setenv("REFINERY_LLM_SPECULATIVE", "none")
    off = Settings(_env_file=None).llm_config().speculative
    assert "--spec-type" not in ModelServer(ServerOptions(speculative=off), lambda: Path("m")).command(Path("m"))
    monkeypatch.setenv("REFINERY_LLM_SPECULATIVE", "draft-model")
    with pytest.raises(ValueError, match="REFINERY_LLM_SPECULATIVE"):
        Settings(_env_file=None)


def test_huge_pages_read_the_weights_into_memory_and_ask_glibc_for_them(monkeypatch):
    from pipelines.llm.server import ModelServer, ServerOptions

    monkeypatch.delenv("REFINERY_LLM_HUGE_PAGES", raising=False)
    monkeypatch.setenv("GLIBC_TUNABLES", "glibc.malloc.arena_max=2")  # the user's own tunables are kept
    assert Settings(_env_file=None).llm_config().huge_pages is True
    server = ModelServer(ServerOptions(), lambda: Path("m.gguf"))
    assert server.command(Path("m"))[-2:] == ["--load-mode", "none"]
    assert server.environment()["GLIBC_TUNABLES"] == "glibc.malloc.arena_max=2:glibc.malloc.hugetlb=1"
    monkeypatch.setenv("REFINERY_LLM_HUGE_PAGES", "false")
    off = ModelServer(ServerOptions(huge_pages=Settings(_env_file=None).llm_config().huge_pages), lambda: Path("m"))
    assert "--load-mode" not in off.command(Path("m"))
    assert off.environment()["GLIBC_TUNABLES"] == "glibc.malloc.arena_max=2"
