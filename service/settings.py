"""Configuration from the environment and an optional `.env` file (pydantic-settings)."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from pipelines.embeddings import DEFAULT_EMBEDDING_MODEL
from pipelines.llm import LLMConfig, default_threads


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore", populate_by_name=True)

    data_dir: Path = Field(Path("data"), validation_alias="REFINERY_DATA_DIR")
    database_url: str | None = Field(None, validation_alias="DATABASE_URL")
    llm_provider: Literal["local", "openai", "fake"] | None = Field(None, validation_alias="REFINERY_LLM_PROVIDER")
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
    llm_memory_limit_mb: int = Field(0, validation_alias="REFINERY_LLM_MEMORY_LIMIT_MB", ge=0)
    openai_api_key: str | None = Field(None, validation_alias="OPENAI_API_KEY")
    openai_base_url: str | None = Field(None, validation_alias="OPENAI_BASE_URL")
    openai_schema_mode: Literal["json_schema", "json_object"] = Field(
        "json_schema", validation_alias="REFINERY_OPENAI_SCHEMA_MODE"
    )

    embedding_model: str = Field(DEFAULT_EMBEDDING_MODEL, validation_alias="REFINERY_EMBEDDING_MODEL")
    chroma_host: str | None = Field(None, validation_alias="CHROMA_HOST")
    chroma_port: int = Field(8000, validation_alias="CHROMA_PORT", ge=1, le=65535)
    chroma_collection: str = Field(
        "refinery-items", validation_alias="REFINERY_CHROMA_COLLECTION", pattern=r"^[a-zA-Z0-9][a-zA-Z0-9._-]{2,500}$"
    )
    duplicate_check: bool = Field(True, validation_alias="REFINERY_DUPLICATE_CHECK")

    @model_validator(mode="after")
    def _default_provider(self) -> Settings:
        if self.llm_provider is None:
            self.llm_provider = "openai" if self.openai_api_key else "local"
        return self

    @property
    def db_url(self) -> str:
        return self.database_url or f"sqlite:///{(self.data_dir / 'refinery.db').resolve()}"

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
            llama_server=self.llama_server,
            server_port=self.llm_port,
            repack=self.llm_repack,
            memory_limit_mb=self.llm_memory_limit_mb,
        )


@cache
def get_settings() -> Settings:
    return Settings()
