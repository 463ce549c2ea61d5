"""Chroma as the vector store: embedded (`PersistentClient` under the data directory) or a `chroma run` server.

Every item is stored twice, in two cosine collections: its title, and its title with the cleaned body (see
`duplicates`). Chroma never embeds anything itself: our embedding function is always passed, so its default
(which downloads a model) can never run.
"""

from __future__ import annotations

import fcntl
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from pipelines.embeddings import Embedder

FIELDS = ("full", "title")
QUERY_BATCH = 256
OWNER = "refinery-owner.lock"  # in an embedded store's folder: locked by the one process that may open it
_owned: dict[Path, int] = {}  # the embedded stores this process holds: folder -> the locked file's descriptor


class VectorStoreUnavailable(RuntimeError):
    """The configured Chroma cannot be reached or opened; the message says what to fix."""


def _chroma_embedding_function(embedder: Embedder) -> Any:
    from chromadb.api.types import EmbeddingFunction

    class RefineryEmbeddingFunction(EmbeddingFunction):
        """Chroma's view of our embedder (used only if a caller passes documents without vectors)."""

        def __init__(self, embedder: Embedder) -> None:
            self.embedder = embedder

        def __call__(self, input: list[str]) -> list[np.ndarray]:
            return list(self.embedder.encode(list(input)))

        @staticmethod
        def name() -> str:
            return "refinery"

        def get_config(self) -> dict[str, Any]:
            return {"model": self.embedder.model_name}

        @staticmethod
        def build_from_config(config: dict[str, Any]) -> RefineryEmbeddingFunction:
            from pipelines.embeddings import get_embedder

            return RefineryEmbeddingFunction(get_embedder(config["model"]))

        def default_space(self) -> str:
            return "cosine"

    return RefineryEmbeddingFunction(embedder)


def open_client(path: Path | None = None, host: str | None = None, port: int = 8000) -> Any:
    """A Chroma client: HTTP when `host` is given, else embedded and persistent under `path`."""
    os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
    import chromadb
    from chromadb.config import Settings

    settings = Settings(anonymized_telemetry=False)
    if host:
        try:
            return chromadb.HttpClient(host=host, port=port, settings=settings)
        except Exception as exc:  # chromadb raises ValueError or bare Exceptions when a server is unreachable
            raise VectorStoreUnavailable(
                f"cannot reach the Chroma server at {host}:{port} ({exc}); start it with `chroma run --path DIR "
                f"--host {host} --port {port}` or unset CHROMA_HOST to use the embedded store"
            ) from exc
    if path is None:
        raise ValueError("an embedded Chroma needs a path")
    try:
        claim(path)  # makes the folder too
        return chromadb.PersistentClient(path=str(path), settings=settings)
    except (OSError, ValueError) as exc:
        raise VectorStoreUnavailable(f"cannot open the Chroma store at {path}: {exc}") from exc


def claim(path: Path) -> None:
    """Hold the embedded store in `path` for this process, for as long as it runs. Chroma's embedded store serves
    one process: a second one writing to it leaves the first reading stale segments (every search then fails until
    a restart), so a second process is refused, saying which process holds the store and what to do instead. The
    lock is the operating system's (flock), so it ends with its process, however that ends."""
    folder = path.resolve()
    if folder in _owned:
        return
    folder.mkdir(parents=True, exist_ok=True)
    handle = os.open(folder / OWNER, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.pread(handle, 200, 0).decode(errors="replace").strip() or "another process"
        os.close(handle)
        raise VectorStoreUnavailable(
            f"the embedded vector store in {folder} is in use by {holder}, and Chroma's embedded store serves one "
            "process at a time. While `refinery serve` runs, do this through it (the desk or the HTTP API), or stop "
            "it first; for several processes on one index, run a Chroma server (`chroma run`) and set CHROMA_HOST"
        ) from None
    os.ftruncate(handle, 0)
    os.pwrite(handle, f"process {os.getpid()} ({' '.join([Path(sys.argv[0]).name, *sys.argv[1:2]])})".encode(), 0)
    _owned[folder] = handle


@dataclass
class StoredVector:
    id: str
    distance: float
    metadata: dict[str, Any]


class VectorStore:
    """Two Chroma collections (`<name>-full`, `<name>-title`) that hold the same ids."""

    def __init__(self, client: Any, embedder: Embedder, name: str = "refinery-items") -> None:
        self.client = client
        self.embedder = embedder
        self.name = name
        function = _chroma_embedding_function(embedder)
        self._collections = {
            field: client.get_or_create_collection(
                f"{name}-{field}",
                embedding_function=function,
                configuration={"hnsw": {"space": "cosine"}},
                metadata={"embedding_model": embedder.model_name},
            )
            for field in FIELDS
        }

    def close(self) -> None:
        """Let go of the Chroma client: an embedded store's threads and open files end (a process that opens many
        stores, as the tests do, would otherwise keep a few threads for each)."""
        self.client.close()

    def upsert(self, ids: list[str], vectors: dict[str, np.ndarray], documents: list[str], metadatas: list[dict]):
        """Store precomputed vectors for each field; `documents` are the texts the lexical index is built from."""
        if not ids:
            return
        for field, collection in self._collections.items():
            for start in range(0, len(ids), 4096):
                end = start + 4096
                collection.upsert(
                    ids=ids[start:end],
                    embeddings=vectors[field][start:end],
                    documents=documents[start:end] if field == "full" else None,
                    metadatas=metadatas[start:end],
                )

    def delete(self, ids: list[str]) -> None:
        if ids:
            for collection in self._collections.values():
                collection.delete(ids=ids)

    def count(self) -> int:
        return self._collections["full"].count()

    def query(
        self, field: str, vectors: np.ndarray, k: int, where: dict[str, Any] | None = None
    ) -> list[list[StoredVector]]:
        """Nearest stored items to each vector, by cosine distance (1 - similarity)."""
        collection = self._collections[field]
        size = collection.count()
        if size == 0:
            return [[] for _ in range(len(vectors))]
        results: list[list[StoredVector]] = []
        for start in range(0, len(vectors), QUERY_BATCH):
            reply = collection.query(
                query_embeddings=vectors[start : start + QUERY_BATCH],
                n_results=min(k, size),
                where=where,
                include=["distances", "metadatas"],
            )
            for ids, distances, metadatas in zip(reply["ids"], reply["distances"], reply["metadatas"], strict=True):
                results.append(
                    [
                        StoredVector(i, float(d), dict(m or {}))
                        for i, d, m in zip(ids, distances, metadatas, strict=True)
                    ]
                )
        return results

    def vectors(self, field: str, ids: list[str]) -> dict[str, np.ndarray]:
        """Stored vectors by id (ids not stored are absent)."""
        if not ids:
            return {}
        reply = self._collections[field].get(ids=ids, include=["embeddings"])
        return {i: np.asarray(v, dtype=np.float32) for i, v in zip(reply["ids"], reply["embeddings"], strict=True)}

    def documents(self) -> tuple[list[str], list[str], list[dict[str, Any]]]:
        """Every stored id with its document and metadata (to rebuild the lexical index)."""
        ids: list[str] = []
        documents: list[str] = []
        metadatas: list[dict[str, Any]] = []
        collection = self._collections["full"]
        offset, page = 0, 5000
        while True:
            reply = collection.get(include=["documents", "metadatas"], limit=page, offset=offset)
            ids += reply["ids"]
            documents += [d or "" for d in reply["documents"]]
            metadatas += [dict(m or {}) for m in reply["metadatas"]]
            if len(reply["ids"]) < page:
                return ids, documents, metadatas
            offset += page

    def reset(self) -> None:
        """Drop and recreate both collections (before a full reindex)."""
        for field in FIELDS:
            self.client.delete_collection(f"{self.name}-{field}")
        self.__init__(self.client, self.embedder, self.name)
