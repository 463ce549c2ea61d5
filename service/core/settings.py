"""Configuration from the environment and an optional `.env` file (pydantic-settings)."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import NoDecode

from pipelines.embeddings import DEFAULT_EMBEDDING_MODEL
from pipelines.llm import LLMSettings


class Settings(LLMSettings):
    """The service's settings: the LLM's (pipelines.llm.LLMSettings), the database, embeddings and the index."""

    database_url: str | None = Field(None, validation_alias="DATABASE_URL")
    embedding_model: str = Field(DEFAULT_EMBEDDING_MODEL, validation_alias="REFINERY_EMBEDDING_MODEL")
    chroma_host: str | None = Field(None, validation_alias="CHROMA_HOST")
    chroma_port: int = Field(8000, validation_alias="CHROMA_PORT", ge=1, le=65535)
    chroma_collection: str = Field(
        "refinery-items-2", validation_alias="REFINERY_CHROMA_COLLECTION", pattern=r"^[a-zA-Z0-9][a-zA-Z0-9._-]{2,500}$"
    )
    duplicate_check: bool = Field(True, validation_alias="REFINERY_DUPLICATE_CHECK")
    max_active_jobs: int = Field(4, validation_alias="REFINERY_MAX_ACTIVE_JOBS", ge=1)  # queued + running, all kinds
    log_format: Literal["plain", "json"] = Field("plain", validation_alias="REFINERY_LOG_FORMAT")  # json: JSON lines
    log_level: str = Field("INFO", validation_alias="REFINERY_LOG_LEVEL", pattern=r"(?i)^(debug|info|warning|error)$")
    allowed_hosts: Annotated[list[str], NoDecode] = Field(
        ["localhost", "127.0.0.1", "::1"], validation_alias="REFINERY_ALLOWED_HOSTS"
    )  # the names this service answers to (Host header), against DNS rebinding; comma-separated in the environment
    allowed_origins: Annotated[list[str], NoDecode] = Field([], validation_alias="REFINERY_ALLOWED_ORIGINS")
    session_hours: float = Field(12.0, validation_alias="REFINERY_SESSION_HOURS", gt=0)  # a desk login lasts this long
    login_attempts: int = Field(5, validation_alias="REFINERY_LOGIN_ATTEMPTS", ge=1)  # failures before a lockout
    lockout_minutes: float = Field(15.0, validation_alias="REFINERY_LOCKOUT_MINUTES", ge=0)
    # Request bodies larger than these are refused (413) before they are read: uploads (multipart), everything else.
    max_upload_mb: float = Field(55.0, validation_alias="REFINERY_MAX_UPLOAD_MB", gt=0)  # ingest keeps files <= 50 MiB
    max_json_mb: float = Field(2.0, validation_alias="REFINERY_MAX_JSON_MB", gt=0)
    max_rows: int = Field(100_000, validation_alias="REFINERY_MAX_ROWS", ge=1)  # tickets or items in one upload
    # Background jobs: `inline` runs them in a thread of the API process; `postgres` puts them on a procrastinate
    # queue in DATABASE_URL's PostgreSQL for `refinery worker` processes (service.worker).
    queue: Literal["inline", "postgres"] = Field("inline", validation_alias="REFINERY_QUEUE")
    worker_heartbeat_s: float = Field(5.0, validation_alias="REFINERY_WORKER_HEARTBEAT_S", gt=0)  # stalled after 4x
    piece_attempts: int = Field(8, validation_alias="REFINERY_PIECE_ATTEMPTS", ge=1, le=20)  # then a counted failure
    model_rate_per_minute: int = Field(30, validation_alias="REFINERY_MODEL_RATE_PER_MINUTE", ge=0)  # 0: no limit
    # E-mail (service.inbox.mail): inbox lines still unread `mail_delay_minutes` after they were written are mailed to
    # users with an address. No SMTP host: nothing is mailed.
    smtp_host: str | None = Field(None, validation_alias="REFINERY_SMTP_HOST")
    smtp_port: int | None = Field(None, validation_alias="REFINERY_SMTP_PORT", ge=1, le=65535)  # None: 587, 465, 25
    smtp_security: Literal["starttls", "ssl", "none"] = Field("starttls", validation_alias="REFINERY_SMTP_SECURITY")
    smtp_user: str | None = Field(None, validation_alias="REFINERY_SMTP_USER")
    smtp_password: SecretStr | None = Field(None, validation_alias="REFINERY_SMTP_PASSWORD")
    mail_from: str = Field("Refinery <refinery@localhost>", validation_alias="REFINERY_MAIL_FROM")
    mail_delay_minutes: float = Field(5.0, validation_alias="REFINERY_MAIL_DELAY_MINUTES", ge=0)
    desk_url: str | None = Field(None, validation_alias="REFINERY_DESK_URL")  # the desk as people reach it: mail links

    @field_validator("allowed_hosts", "allowed_origins", mode="before")
    @classmethod
    def _comma_separated(cls, value: object) -> object:
        return [part.strip() for part in value.split(",") if part.strip()] if isinstance(value, str) else value

    @property
    def db_url(self) -> str:
        return self.database_url or f"sqlite:///{(self.data_dir / 'refinery.db').resolve()}"

    @property
    def chroma_dir(self) -> Path:
        """The embedded vector store (when no CHROMA_HOST is set)."""
        return self.data_dir / "chroma"

    @property
    def points_models_dir(self) -> Path:
        """Each project's fitted points model (derived from its items with points: refitted, never backed up)."""
        return self.data_dir / "points-models"


@cache
def get_settings() -> Settings:
    return Settings()
