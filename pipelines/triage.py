"""Ticket triage and themes, without an LLM: category by nearest example sentences, themes by clustering.

Categories: bug | feature_request | question | praise | noise. Themes are built from bugs, feature requests
and questions; praise and noise are counted but not themed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Literal

import numpy as np
import yaml
from sklearn.cluster import AgglomerativeClustering

from pipelines.embeddings import Embedder
from pipelines.safety import neutralize_instructions

Category = Literal["bug", "feature_request", "question", "praise", "noise"]
THEMED: tuple[str, ...] = ("bug", "feature_request", "question")
PROTOTYPES_FILE = Path(__file__).with_name("triage.yaml")
_WORD = re.compile(r"[^\W\d_]{2,}")


class TicketClassifier:
    """Nearest category by mean cosine to its example sentences (pipelines/triage.yaml)."""

    def __init__(self, embedder: Embedder, path: Path = PROTOTYPES_FILE) -> None:
        spec = yaml.safe_load(path.read_text(encoding="utf-8"))
        self.version: str = spec["version"]
        self.categories: list[str] = list(spec["categories"])
        self._embedder = embedder
        self._examples = spec["categories"]

    @cached_property
    def _centroids(self) -> np.ndarray:
        rows = []
        for category in self.categories:
            mean = self._embedder.encode(self._examples[category]).mean(axis=0)
            rows.append(mean / np.linalg.norm(mean))
        return np.stack(rows)

    def classify(self, texts: list[str], vectors: np.ndarray) -> list[tuple[Category, float]]:
        """(category, similarity) per text; under three words is noise whatever it says."""
        similarity = vectors @ self._centroids.T
        out: list[tuple[Category, float]] = []
        for text, row in zip(texts, similarity, strict=True):
            best = int(np.argmax(row))
            category = self.categories[best] if len(_WORD.findall(text)) >= 3 else "noise"
            out.append((category, round(float(row[best]), 4)))  # type: ignore[arg-type]
        return out


@dataclass
class ThemeCluster:
    members: list[int]  # indices into the clustered vectors, most typical first (attached ones last)
    cohesion: float  # mean cosine of the clustered members to their centroid
    attached: int = 0  # members that were in no theme of `min_size` and joined this one (attach_leftovers)


THEME_DISTANCE = 0.66  # chosen on the ingest eval's dev apps: coverage as before (0.757), purity 0.563 -> 0.609


def cluster_themes(vectors: np.ndarray, distance: float = THEME_DISTANCE, min_size: int = 3) -> list[ThemeCluster]:
    """Agglomerative clustering (cosine, complete linkage: every two tickets of a theme are within `distance` of each
    other); clusters smaller than `min_size` are left out. Largest theme first; members ordered by closeness to the
    centroid."""
    if len(vectors) < max(2, min_size):
        return []
    labels = AgglomerativeClustering(
        n_clusters=None, metric="cosine", linkage="complete", distance_threshold=distance
    ).fit_predict(vectors)
    themes = []
    for label in np.unique(labels):
        members = np.flatnonzero(labels == label)
        if len(members) < min_size:
            continue
        centroid = vectors[members].mean(axis=0)
        centroid /= np.linalg.norm(centroid)
        closeness = vectors[members] @ centroid
        order = np.argsort(-closeness)
        themes.append(ThemeCluster([int(members[i]) for i in order], round(float(closeness.mean()), 4)))
    return sorted(themes, key=lambda t: (-len(t.members), t.members[0]))


ATTACH_SIMILARITY = 0.45  # chosen on the ingest eval's dev apps: coverage 0.696 -> 0.755 at purity 0.572 -> 0.563


def attach_leftovers(
    vectors: np.ndarray, themes: list[ThemeCluster], similarity: float = ATTACH_SIMILARITY
) -> list[ThemeCluster]:
    """Each vector in no theme joins the theme whose centroid is most similar, when at least `similarity` (cosine),
    after the theme's own members; the rest stay unthemed. Themes keep their order and their cohesion."""
    if not themes:
        return themes
    centroids = np.stack([vectors[t.members].mean(axis=0) for t in themes])
    centroids /= np.linalg.norm(centroids, axis=1, keepdims=True)
    placed = {m for t in themes for m in t.members}
    joining: list[list[tuple[float, int]]] = [[] for _ in themes]
    for index in range(len(vectors)):
        if index in placed:
            continue
        scores = centroids @ vectors[index]
        best = int(np.argmax(scores))
        if scores[best] >= similarity:
            joining[best].append((float(scores[best]), index))
    return [
        ThemeCluster(t.members + [i for _, i in sorted(j, reverse=True)], t.cohesion, len(j))
        for t, j in zip(themes, joining, strict=True)
    ]


_SENTENCE = re.compile(r"(?<=[.!?])\s+")


def representative_quotes(texts: list[str], limit: int = 3, max_chars: int = 200) -> list[str]:
    """Verbatim quotes for a theme without asking a model: the first sentence of each of the most typical
    tickets (cut at a word boundary when long) that is not addressed to a model; each is a substring of its
    ticket by construction."""
    quotes: list[str] = []
    for text in texts:
        sentences = [s.strip() for s in _SENTENCE.split(text.strip())]
        sentence = next((s for s in sentences if not neutralize_instructions(s)[1]), "")
        if len(sentence) > max_chars:
            sentence = sentence[:max_chars].rsplit(" ", 1)[0]
        if len(_WORD.findall(sentence)) >= 3 and sentence not in quotes:
            quotes.append(sentence)
        if len(quotes) == limit:
            break
    return quotes
