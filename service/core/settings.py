"""Configuration from the environment and an optional `.env` file (pydantic-settings)."""

from __future__ import annotations

from functools import cache

from pydantic import Field

from pipelines.embeddings import DEFAULT_EMBEDDING_MODEL
from pipelines.llm import LLMSettings


class Settings(LLMSettings):
    """The service's settings: the LLM's (pipelines.llm.LLMSettings), the database, embeddings and the index."""

    database_url: str | None = Field(None, validation_alias="DATABASE_URL")
    embedding_model: str = Field(DEFAULT_EMBEDDING_MODEL, validation_alias="REFINERY_EMBEDDING_MODEL")
    chroma_host: str | None = Field(None, validation_alias="CHROMA_HOST")
    chroma_port: int = Field(8000, validation_alias="CHROMA_PORT", ge=1, le=65535)
    chroma_collection: str = Field(
        "refinery-items", validation_alias="REFINERY_CHROMA_COLLECTION", pattern=r"^[a-zA-Z0-9][a-zA-Z0-9._-]{2,500}$"
    )
    duplicate_check: bool = Field(True, validation_alias="REFINERY_DUPLICATE_CHECK")

    @property
    def db_url(self) -> str:
        return self.database_url or f"sqlite:///{(self.data_dir / 'refinery.db').resolve()}"


@cache
def get_settings() -> Settings:
    return Settings()
