"""Build the configured LLM. Every real model is reached the same way, over the OpenAI-compatible HTTP API:
`openai` (OpenAI or any compatible servers) by URL, one or several (a pool: pipelines.llm.pool), `local` through
the llama.cpp server Refinery runs itself. `fake` has scripted replies for unit tests of plumbing."""

from __future__ import annotations

import atexit
import os
from pathlib import Path
from typing import Any, Literal

from pydantic import AliasChoices, BaseModel, Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from pipelines.llm import server, weights
from pipelines.llm.core import LLM, LLMUnavailable
from pipelines.llm.fake import fake_llm
from pipelines.llm.gate import ModelGate
from pipelines.llm.pool import CircuitBreaker, ModelPool, PoolServer, RetryPolicy, parse_base_urls

os.environ.setdefault("HF_HUB_OFFLINE", "1")
atexit.register(server.stop_all)

Provider = Literal["local", "openai", "fake"]
OPENAI_URL = "https://api.openai.com/v1"


def default_threads() -> int:
    """Every core: measured with the model in its own process, 2 threads beat 1 on 2 cores (README, bench)."""
    return max(1, os.cpu_count() or 1)


SPECULATIVE_PATTERN = r"^(none|ngram-(simple|map-k):[1-9][0-9]?:[1-9][0-9]?)$"  # llama-server's lookup kinds


class LLMConfig(BaseModel):
    """Everything needed to build an LLM; the service fills it from its settings."""

    provider: Provider = "local"
    model: str | None = Field(None, description="OpenAI model name, or local model name / GGUF path.")
    api_key: str | None = None
    base_url: str | None = Field(None, description="openai: a server's URL, or several, comma-separated (a pool).")
    openai_schema_mode: Literal["json_schema", "json_object"] = Field(
        "json_schema",
        description="json_object for servers that reject json_schema (llama-cpp-python's server, some Ollama builds).",
    )
    data_dir: Path = Path("data")
    threads: int = Field(default_factory=default_threads, ge=1)
    context_tokens: int = Field(4096, ge=512, description="Per call (per server slot).")
    max_output_tokens: int = Field(768, ge=64)
    max_attempts: int = Field(3, ge=1, le=10)
    timeout_s: float = Field(
        300.0, gt=0, description="One request (local: the longest wait for its next token); then a hang."
    )
    concurrency: int = Field(4, ge=1, description="Calls at once per server (local: the server's parallel slots).")
    retries: int = Field(2, ge=0, le=10, description="openai: resends after a 429, 5xx, timeout, lost connection.")
    backoff_s: float = Field(0.5, gt=0, le=60, description="openai: the first wait before a resend; doubled each time.")
    breaker_failures: int = Field(3, ge=1, description="openai: transport faults in a row that take a server out.")
    breaker_cooldown_s: float = Field(30.0, gt=0, description="openai: how long a server is out before a probe.")
    llama_server: Path | None = Field(None, description="The llama-server binary (default: beside Python).")
    server_port: int = Field(0, ge=0, le=65535, description="Loopback port of the local server; 0: a free one.")
    repack: bool = True
    huge_pages: bool = Field(True, description="local: weights read into transparent huge pages (a faster draft).")
    speculative: str = Field(
        "ngram-simple:3:4",
        pattern=SPECULATIVE_PATTERN,
        description="local: draft tokens looked up in the context (kind:N:M), verified by the model; none: off.",
    )
    memory_limit_mb: int = Field(0, ge=0, description="Address-space limit of the local server process; 0: none.")

    @field_validator("base_url")
    @classmethod
    def _urls(cls, value: str | None) -> str | None:
        return ",".join(parse_base_urls(value)) if value and value.strip() else None

    @property
    def base_urls(self) -> list[str]:
        return self.base_url.split(",") if self.base_url else []


class LLMSettings(BaseSettings):
    """The LLM configuration from the environment (and an optional `.env` file): the variables the service reads,
    for any program that builds the same LLM without the service (the evals). `llm_config()` makes the
    LLMConfig; the provider defaults to openai when OPENAI_API_KEY is set, else local."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore", populate_by_name=True)

    data_dir: Path = Field(Path("data"), validation_alias="REFINERY_DATA_DIR")
    llm_provider: Provider | None = Field(None, validation_alias="REFINERY_LLM_PROVIDER")
    llm_model: str | None = Field(None, validation_alias="REFINERY_LLM_MODEL")
    local_model: str | None = Field(
        None, validation_alias=AliasChoices("REFINERY_LOCAL_MODEL", "REFINERY_LOCAL_MODEL_PATH")
    )
    llm_threads: int = Field(default_factory=default_threads, validation_alias="REFINERY_LLM_THREADS", ge=1)
    llm_context_tokens: int = Field(4096, validation_alias="REFINERY_LLM_CONTEXT_TOKENS", ge=1024)
    llm_max_attempts: int = Field(3, validation_alias="REFINERY_LLM_MAX_ATTEMPTS", ge=1, le=10)
    llm_timeout_s: float = Field(300.0, validation_alias="REFINERY_LLM_TIMEOUT_S", gt=0)
    llm_concurrency: int = Field(4, validation_alias="REFINERY_LLM_CONCURRENCY", ge=1, le=64)
    llama_server: Path | None = Field(None, validation_alias="REFINERY_LLAMA_SERVER")
    llm_port: int = Field(0, validation_alias="REFINERY_LLM_PORT", ge=0, le=65535)
    llm_repack: bool = Field(True, validation_alias="REFINERY_LLM_REPACK")
    llm_huge_pages: bool = Field(True, validation_alias="REFINERY_LLM_HUGE_PAGES")
    llm_memory_limit_mb: int = Field(0, validation_alias="REFINERY_LLM_MEMORY_LIMIT_MB", ge=0)
    llm_speculative: str = Field(
        "ngram-simple:3:4", validation_alias="REFINERY_LLM_SPECULATIVE", pattern=SPECULATIVE_PATTERN
    )
    llm_retries: int = Field(2, validation_alias="REFINERY_LLM_RETRIES", ge=0, le=10)
    llm_backoff_s: float = Field(0.5, validation_alias="REFINERY_LLM_BACKOFF_S", gt=0, le=60)
    llm_breaker_failures: int = Field(3, validation_alias="REFINERY_LLM_BREAKER_FAILURES", ge=1)
    llm_breaker_cooldown_s: float = Field(30.0, validation_alias="REFINERY_LLM_BREAKER_COOLDOWN_S", gt=0)
    openai_api_key: str | None = Field(None, validation_alias="OPENAI_API_KEY")
    openai_base_url: str | None = Field(
        None, validation_alias=AliasChoices("REFINERY_OPENAI_BASE_URLS", "OPENAI_BASE_URL")
    )  # one URL or several, comma-separated
    openai_schema_mode: Literal["json_schema", "json_object"] = Field(
        "json_schema", validation_alias="REFINERY_OPENAI_SCHEMA_MODE"
    )

    @field_validator("openai_base_url")
    @classmethod
    def _urls(cls, value: str | None) -> str | None:
        try:
            return ",".join(parse_base_urls(value)) if value and value.strip() else None
        except ValueError as exc:
            raise ValueError(f"REFINERY_OPENAI_BASE_URLS / OPENAI_BASE_URL: {exc}") from None

    @model_validator(mode="after")
    def _default_provider(self) -> LLMSettings:
        if self.llm_provider is None:
            self.llm_provider = "openai" if self.openai_api_key else "local"
        return self

    def llm_config(self) -> LLMConfig:
        model = self.llm_model
        if self.llm_provider == "local" and self.local_model:
            model = self.local_model
        return LLMConfig(
            provider=self.llm_provider,
            model=model,
            api_key=self.openai_api_key,
            base_url=self.openai_base_url,
            openai_schema_mode=self.openai_schema_mode,
            data_dir=self.data_dir,
            threads=self.llm_threads,
            context_tokens=self.llm_context_tokens,
            max_attempts=self.llm_max_attempts,
            timeout_s=self.llm_timeout_s,
            concurrency=self.llm_concurrency,
            retries=self.llm_retries,
            backoff_s=self.llm_backoff_s,
            breaker_failures=self.llm_breaker_failures,
            breaker_cooldown_s=self.llm_breaker_cooldown_s,
            llama_server=self.llama_server,
            server_port=self.llm_port,
            repack=self.llm_repack,
            huge_pages=self.llm_huge_pages,
            speculative=self.llm_speculative,
            memory_limit_mb=self.llm_memory_limit_mb,
        )


_SCHEMA_DROPS = {"minLength", "maxLength", "pattern", "title", "default"}


def wire_schema(schema: type[BaseModel]) -> dict[str, Any]:
    """The JSON schema sent to a model server: no string bounds or patterns (pydantic checks them on the reply).
    llama.cpp expands `maxLength: N` into N nested grammar rules; with 2000 it fails to compile the grammar."""

    def strip(node: Any) -> Any:
        if isinstance(node, dict):
            return {
                key: strip(value)
                for key, value in node.items()
                if not (key in _SCHEMA_DROPS and isinstance(value, str | int))  # a property named "title" stays
            }
        if isinstance(node, list):
            return [strip(item) for item in node]
        return node

    return strip(schema.model_json_schema())


def _json_schema_format(schema: type[BaseModel]) -> dict[str, Any]:
    spec = {"name": schema.__name__, "schema": wire_schema(schema), "strict": False}
    return {"response_format": {"type": "json_schema", "json_schema": spec}}


def _chat(config: LLMConfig, model: str, base_url: str, api_key: str, retries: int) -> Any:
    from langchain_openai import ChatOpenAI

    return ChatOpenAI(
        model=model,
        api_key=api_key,
        base_url=base_url,
        temperature=0,
        timeout=config.timeout_s,
        max_retries=retries,
        max_tokens=config.max_output_tokens,
        stream_usage=True,
    )


def _openai_llm(config: LLMConfig) -> LLM:
    if not config.api_key and not config.base_url:
        raise LLMUnavailable(
            "provider 'openai' needs OPENAI_API_KEY, or OPENAI_BASE_URL (one or several comma-separated URLs) "
            "for OpenAI-compatible servers"
        )
    model = config.model or "gpt-4o-mini"

    def bind_schema(schema: type[BaseModel]) -> dict[str, Any]:
        if config.openai_schema_mode == "json_object":
            return {"response_format": {"type": "json_object", "schema": wire_schema(schema)}}
        return _json_schema_format(schema)

    pool = ModelPool(
        [
            PoolServer(
                url,
                _chat(config, model, url, config.api_key or "not-needed", retries=0),  # the pool sends again
                ModelGate(config.concurrency),
                CircuitBreaker(config.breaker_failures, config.breaker_cooldown_s),
            )
            for url in config.base_urls or [OPENAI_URL]  # never None: the client would read OPENAI_BASE_URL itself
        ],
        RetryPolicy(retries=config.retries, backoff_s=config.backoff_s),
        timeout_s=config.timeout_s,
    )
    return LLM(
        pool.servers[0].chat,
        provider="openai",
        model=model,
        bind_schema=bind_schema,
        max_attempts=config.max_attempts,
        gate=pool.gate,
        pool=pool,
    )


def local_server(config: LLMConfig) -> server.ModelServer:
    """The supervised llama.cpp server for this configuration (shared by every LLM built with it), started."""
    options = server.ServerOptions(
        binary=config.llama_server or server.default_binary(),
        port=config.server_port,
        threads=config.threads,
        context_tokens=config.context_tokens,
        slots=config.concurrency,
        repack=config.repack,
        huge_pages=config.huge_pages,
        speculative=config.speculative,
        memory_limit_mb=config.memory_limit_mb,
        log_path=config.data_dir / "logs" / "model-server.log",
    )
    choice, data_dir = config.model, config.data_dir
    instance = server.shared_server(
        options, lambda: weights.resolve_model(choice, data_dir).path, key=(choice, str(data_dir))
    )
    instance.start()
    return instance


def _local_llm(config: LLMConfig) -> LLM:
    instance = local_server(config)
    return LLM(
        _chat(config, weights.display_name(config.model), instance.base_url, "local", retries=0),
        provider="local",
        model=weights.display_name(config.model),
        bind_schema=_json_schema_format,
        max_attempts=config.max_attempts,
        gate=instance.gate,
        host=instance,
    )


def build_llm(config: LLMConfig) -> LLM:
    """Build the configured provider. Raises LLMUnavailable with what to fix."""
    if config.provider == "openai":
        return _openai_llm(config)
    if config.provider == "local":
        return _local_llm(config)
    if config.provider == "fake":
        return fake_llm(max_attempts=config.max_attempts)
    raise LLMUnavailable(f"unknown LLM provider {config.provider!r}: use local, openai or fake")
