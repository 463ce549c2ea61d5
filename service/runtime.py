"""The process-wide pieces the API and CLI share: settings, database, and the lazily built LLM."""

from __future__ import annotations

import threading

from pipelines import drafting, local_model
from pipelines.duplicates import DuplicateDetector
from pipelines.embeddings import get_embedder
from pipelines.llm import LLM, build_llm
from pipelines.vectorstore import VectorStore, open_client
from prompts import load_prompt
from service.db import Database
from service.settings import Settings


class Runtime:
    def __init__(self, settings: Settings, llm: LLM | None = None) -> None:
        self.settings = settings
        self.db = Database(settings.db_url)
        self._llm = llm
        self._lock = threading.Lock()
        self._detector: DuplicateDetector | None = None
        self._detector_lock = threading.Lock()

    def llm(self) -> LLM:
        """The configured LLM, built on first use (raises LLMUnavailable with what to fix)."""
        with self._lock:
            if self._llm is None:
                self._llm = build_llm(self.settings.llm_config())
            return self._llm

    def duplicates(self) -> DuplicateDetector:
        """The duplicate detector over the configured Chroma, built on first use (loads the embedding model).
        An empty store is rebuilt from the database, the source of truth."""
        with self._detector_lock:
            if self._detector is None:
                settings = self.settings
                embedder = get_embedder(settings.embedding_model)
                client = open_client(settings.data_dir / "chroma", settings.chroma_host, settings.chroma_port)
                self._detector = DuplicateDetector(embedder, VectorStore(client, embedder, settings.chroma_collection))
                if self._detector.store.count() == 0:
                    from service import dedupe

                    with self.db.session() as session:
                        self._detector.add(dedupe.indexable(session))
            return self._detector

    @property
    def llm_model(self) -> str | None:
        """The active model's name, without building anything."""
        if self._llm is not None:
            return self._llm.model
        config = self.settings.llm_config()
        if config.provider == "local":
            return local_model.display_name(config.model)
        return config.model

    @property
    def llm_loaded(self) -> bool:
        if self._llm is None:
            return False
        chat = self._llm.chat
        return local_model.is_loaded(chat.model_path) if isinstance(chat, local_model.LocalChatModel) else True

    def warm_up(self) -> None:
        """Build the LLM and, for the local model, load its weights and evaluate the fixed prompt prefix
        (system prompt and worked examples, ~1,500 tokens) so llama.cpp's prefix cache serves the first draft."""
        llm = self.llm()
        if isinstance(llm.chat, local_model.LocalChatModel):
            messages = load_prompt(drafting.PROMPT_ID).messages(text="warm-up", context="not given")
            llm.chat.prefill(messages)
