"""The process-wide pieces the API and CLI share: settings, database, and the lazily built LLM."""

from __future__ import annotations

import threading

from pipelines import local_model
from pipelines.llm import LLM, build_llm
from service.db import Database
from service.settings import Settings


class Runtime:
    def __init__(self, settings: Settings, llm: LLM | None = None) -> None:
        self.settings = settings
        self.db = Database(settings.db_url)
        self._llm = llm
        self._lock = threading.Lock()

    def llm(self) -> LLM:
        """The configured LLM, built on first use (raises LLMUnavailable with what to fix)."""
        with self._lock:
            if self._llm is None:
                self._llm = build_llm(self.settings.llm_config())
            return self._llm

    @property
    def llm_model(self) -> str | None:
        """The active model's name, without building anything."""
        if self._llm is not None:
            return self._llm.model
        config = self.settings.llm_config()
        if config.provider == "local":
            return config.model or local_model.DEFAULT_MODEL
        return config.model

    @property
    def llm_loaded(self) -> bool:
        if self._llm is None:
            return False
        chat = self._llm.chat
        return local_model.is_loaded(chat.model_path) if isinstance(chat, local_model.LocalChatModel) else True

    def warm_up(self) -> None:
        """Build the LLM and, for the local model, load its weights, so the first request does not wait."""
        llm = self.llm()
        if isinstance(llm.chat, local_model.LocalChatModel):
            local_model.get_llama(llm.chat.model_path, llm.chat.n_threads, llm.chat.n_ctx)
