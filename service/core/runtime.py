"""The process-wide pieces the API and CLI share: settings, database, the lazily built LLM and duplicate detector."""

from __future__ import annotations

import contextvars
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from sqlalchemy.orm import Session

from pipelines import drafting
from pipelines.duplicates import Document, DuplicateDetector
from pipelines.embeddings import get_embedder
from pipelines.llm import LLM, StructuredResult, build_llm
from pipelines.llm.server import ModelServer, ServerState
from pipelines.llm.weights import display_name
from pipelines.vectorstore import VectorStore, open_client
from prompts import load_prompt
from service.core.db import Database
from service.core.settings import Settings

IndexSeed = Callable[[Session], list[Document]]
ModelCallObserver = Callable[[StructuredResult], None]


class ObservedLLM:
    """The LLM, with each structured call's result also handed to observers (metrics); otherwise the LLM itself."""

    def __init__(self, llm: LLM, observers: list[ModelCallObserver]) -> None:
        self._llm = llm
        self._observers = observers

    def __getattr__(self, name: str) -> Any:
        return getattr(self._llm, name)

    def complete_structured(self, *args: Any, **kwargs: Any) -> StructuredResult:
        result = self._llm.complete_structured(*args, **kwargs)
        for observe in self._observers:
            observe(result)
        return result


class ContextThreadPool(ThreadPoolExecutor):
    """A thread pool whose tasks run in the submitter's context variables (a request's id, for its log lines)."""

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future:
        return super().submit(contextvars.copy_context().run, fn, *args, **kwargs)


class Runtime:
    def __init__(self, settings: Settings, llm: LLM | None = None) -> None:
        self.settings = settings
        self.db = Database(settings.db_url)
        self._llm = llm
        self._lock = threading.Lock()
        self._detector: DuplicateDetector | None = None
        self._detector_lock = threading.Lock()
        # Requests that wait for the model run here, never in the web server's own thread pool, so every other
        # route answers while the model is busy (the threads mostly wait in the model's line).
        self.model_calls = ContextThreadPool(max_workers=64, thread_name_prefix="model-call")
        self.model_call_observers: list[ModelCallObserver] = []  # each structured call's result (metrics)

    def release_model_calls(self) -> None:
        """The app is stopping: the model-call threads end once their work is done (a streamed draft still stores
        its result), and a fresh pool, which starts no thread until used, takes their place for a later start."""
        self.model_calls.shutdown(wait=False)
        self.model_calls = ContextThreadPool(max_workers=64, thread_name_prefix="model-call")

    def close(self) -> None:
        """Let go of what this runtime opened: the vector store's client, the database's connections, the idle
        model-call threads. For a process that outlives its runtimes (the tests); a stopping app does not call it,
        since a job of its may still be writing when it stops (the process's end closes everything)."""
        with self._detector_lock:
            if self._detector is not None:
                self._detector.store.close()
                self._detector = None
        self.db.engine.dispose()
        self.model_calls.shutdown(wait=False)

    def llm(self) -> LLM:
        """The configured LLM, built on first use (raises LLMUnavailable with what to fix)."""
        with self._lock:
            if self._llm is None:
                self._llm = build_llm(self.settings.llm_config())
            return ObservedLLM(self._llm, self.model_call_observers) if self.model_call_observers else self._llm

    def detector(self, seed: IndexSeed | None = None) -> DuplicateDetector:
        """The duplicate detector over the configured Chroma, built on first use (loads the embedding model). An
        empty store is filled with `seed(session)`: the documents the database, the source of truth, says are
        indexed (`service.duplicates` knows which)."""
        with self._detector_lock:
            if self._detector is None:
                settings = self.settings
                client = open_client(settings.chroma_dir, settings.chroma_host, settings.chroma_port)
                embedder = get_embedder(settings.embedding_model)
                detector = DuplicateDetector(embedder, VectorStore(client, embedder, settings.chroma_collection))
                if seed is not None and detector.store.count() == 0:
                    with self.db.session() as session:
                        detector.add(seed(session))
                self._detector = detector
            return self._detector

    @property
    def llm_model(self) -> str | None:
        """The active model's name, without building anything."""
        if self._llm is not None:
            return self._llm.model
        config = self.settings.llm_config()
        if config.provider == "local":
            return display_name(config.model)
        return config.model

    def model_status(self) -> dict:
        """Where the model stands (the fields of service.api.health.ModelStatus), without starting anything."""
        llm = self._llm
        if llm is None:
            return {"state": "not_started"}
        gate = {"running": llm.gate.running, "waiting": llm.gate.waiting, "slots": llm.gate.slots} if llm.gate else {}
        if not isinstance(llm.host, ModelServer):
            return {"state": "remote", **gate, "servers": pool.status() if (pool := getattr(llm, "pool", None)) else []}
        status = llm.host.status()
        return {
            "state": str(status.state),
            "reason": status.reason,
            "restarts": status.restarts,
            "last_exit": status.last_exit,
            "pid": status.pid,
            **gate,
        }

    @property
    def llm_loaded(self) -> bool:
        return self.model_status()["state"] in (ServerState.ready, "remote")

    def warm_up(self) -> None:
        """Build the LLM and, for the local model, wait for its server and evaluate the fixed prompt prefix (system
        prompt and worked examples, ~1,500 tokens) so its prompt cache serves the first draft, after a restart too.
        Raises LLMUnavailable, saying what to fix, when the model cannot run."""
        llm = self.llm()
        if isinstance(llm.host, ModelServer):
            llm.host.ensure_ready()
            llm.host.keep_warm(load_prompt(drafting.PROMPT_ID).messages(text="warm-up", context="not given"))
