"""Duplicate detection: for a text, the most similar stored items with a score and a verdict.

score = w * semantic + (1 - w) * lexical, where
- semantic is the larger of two cosines (all-MiniLM-L6-v2): title vs title, and title + cleaned body vs the same;
- lexical is the TF-IDF cosine (sublinear tf, English stop words) of the raw title + body, whose stack frames and
  identifiers are strong evidence of the same bug.
Both parts lie in [0, 1] whatever the corpus. Candidates come from Chroma (both fields) and the lexical index; each
candidate is then scored exactly.

The verdict has two stages. `related` is a score threshold. `duplicate` is a second stage: the probability that a
candidate is the same report, from how far its score stands out of the query's own candidates (`stand_out`: z
against the query's candidates ranked 6-20, and the gap to the next one). An absolute score did not transfer
between trackers (tuned on Hadoop, precision 0.333 at recall 0.027 on SeaMonkey, whose reports all score lower);
a score measured against the query's own background does. A project's reviewer decisions on merges recalibrate
that probability (`DuplicateCalibration.recalibrated`: Platt scaling with a prior at the dev calibration). The
weight, thresholds and stage-two weights are fitted on the dev split (Hadoop) by `refinery eval duplicates
--calibrate` and read from `duplicate_calibration.json` beside this module.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field
from scipy import sparse
from scipy.optimize import minimize
from scipy.special import expit
from sklearn.feature_extraction.text import TfidfVectorizer

from pipelines.embeddings import Embedder
from pipelines.textclean import report_text
from pipelines.vectorstore import VectorStore

Verdict = Literal["duplicate", "related", "distinct"]
CALIBRATION_FILE = Path(__file__).with_name("duplicate_calibration.json")


BACKGROUND = slice(5, 20)  # a query's candidates ranked 6-20: what an unrelated report scores against it
MIN_BACKGROUND = 8  # fewer (a small index): the calibration's reference background stands in
SMALL_INDEX = BACKGROUND.start + MIN_BACKGROUND + 1  # fewer items: no query has a background of its own
PRIOR_SD = 1.0  # how far a project's decisions may move the dev calibration's slope and offset, per unit of evidence


class StandOut(BaseModel):
    """How far a candidate's score stands out of its query's other candidates."""

    model_config = ConfigDict(frozen=True)

    z: float  # (score - background mean) / background standard deviation
    gap: float  # score - the next candidate's score
    rank: int = 0  # 0: the best candidate
    background: int = 0  # candidates it was measured against (fewer than MIN_BACKGROUND: the reference stood in)


class Decision(BaseModel):
    """A reviewer's decision on a proposed pair: the same report (merge accepted) or not (merge rejected)."""

    model_config = ConfigDict(frozen=True)

    stand_out: StandOut
    same: bool


class DuplicateCalibration(BaseModel):
    """How scores are blended, where the verdicts change, and what that gave on the dev split."""

    semantic_weight: float = Field(0.4, ge=0, le=1)
    related_threshold: float = Field(0.4, ge=0, le=1)
    z_weight: float = 1.0
    gap_weight: float = 0.0
    later_weight: float = 0.0  # added for a candidate that is not the best one
    intercept: float = -4.0
    duplicate_probability: float = Field(0.75, gt=0, lt=1, description="`duplicate` at or above this probability")
    small_index_threshold: float = Field(
        0.66, ge=0, le=1, description="the score `duplicate` also needs where there was no background to measure"
    )  # the one-stage threshold calibrated on the dev split before the second stage (precision 0.724 there)
    reference_mean: float = 0.2  # background of a query with too few candidates of its own
    reference_sd: float = Field(0.05, gt=0)
    decision_slope: float = 1.0  # Platt scaling learned from reviewer decisions (1, 0: none)
    decision_offset: float = 0.0
    decisions: int = Field(0, ge=0, description="reviewer decisions this calibration has learned from")
    measured_on: str = "not calibrated"
    duplicate_precision: float | None = None
    duplicate_recall: float | None = None
    related_recall: float | None = None

    def logit(self, stand_out: StandOut) -> float:
        """The dev calibration's log-odds that a candidate is a duplicate (before reviewer decisions)."""
        later = self.later_weight if stand_out.rank else 0.0
        return self.intercept + self.z_weight * stand_out.z + self.gap_weight * stand_out.gap + later

    def probability(self, stand_out: StandOut) -> float:
        return float(expit(self.decision_slope * self.logit(stand_out) + self.decision_offset))

    def verdict(self, candidate: Candidate) -> Verdict:
        """distinct below the `related` score; duplicate at the `duplicate` probability, and, where the query had
        too few candidates to measure how far one stands out (a small backlog), only at the old score threshold."""
        if candidate.score < self.related_threshold:
            return "distinct"
        if candidate.probability < self.duplicate_probability:
            return "related"
        measured = candidate.stand_out.background >= MIN_BACKGROUND
        return "duplicate" if measured or candidate.score >= self.small_index_threshold else "related"

    def recalibrated(self, decisions: list[Decision]) -> DuplicateCalibration:
        """This calibration after a project's reviewer decisions: slope and offset of the dev log-odds refitted to
        the decisions (maximum a posteriori, a normal prior at 1 and 0), so a tracker whose duplicates stand out
        less or more than the dev tracker's gets probabilities that match its own reviewers."""
        if not decisions:
            return self.model_copy(update={"decision_slope": 1.0, "decision_offset": 0.0, "decisions": 0})
        logits = np.array([self.logit(d.stand_out) for d in decisions])
        same = np.array([d.same for d in decisions], dtype=float)

        def loss(params: np.ndarray) -> float:
            slope, offset = params
            z = slope * logits + offset
            log_likelihood = np.sum(same * -np.logaddexp(0, -z) + (1 - same) * -np.logaddexp(0, z))
            return float(-log_likelihood + ((slope - 1) ** 2 + offset**2) / (2 * PRIOR_SD**2))

        # slope >= 0: a candidate that stands out more is never less likely the same report
        slope, offset = minimize(loss, np.array([1.0, 0.0]), method="L-BFGS-B", bounds=[(0, None), (None, None)]).x
        return self.model_copy(
            update={"decision_slope": round(float(slope), 4), "decision_offset": round(float(offset), 4),
                    "decisions": len(decisions)}
        )  # fmt: skip


def stand_out(scores: list[float], calibration: DuplicateCalibration) -> list[StandOut]:
    """For scores sorted best first (every candidate of one query), how far each stands out of the background."""
    background = np.array(scores[BACKGROUND])
    measured = len(background) if len(background) >= MIN_BACKGROUND else 0
    if measured:
        mean, sd = float(background.mean()), max(float(background.std()), calibration.reference_sd / 2)
    else:
        mean, sd = calibration.reference_mean, calibration.reference_sd
    return [
        StandOut(
            z=round((score - mean) / sd, 4),
            gap=round(score - (scores[i + 1] if i + 1 < len(scores) else 0), 4),
            rank=i,
            background=measured,
        )
        for i, score in enumerate(scores)
    ]


def load_calibration(path: Path = CALIBRATION_FILE) -> DuplicateCalibration:
    if path.is_file():
        return DuplicateCalibration.model_validate(json.loads(path.read_text()))
    return DuplicateCalibration()


class Document(BaseModel):
    """Something that can have duplicates: a backlog item, a suggestion or a ticket."""

    id: str
    title: str
    body: str = ""
    metadata: dict[str, str | int | float | bool] = Field(default_factory=dict)


@dataclass
class Candidate:
    id: str
    title: str
    score: float
    verdict: Verdict
    semantic: float
    lexical: float
    metadata: dict[str, Any] = field(default_factory=dict)
    stand_out: StandOut = field(default_factory=lambda: StandOut(z=0.0, gap=0.0))
    probability: float = 0.0  # that it is a duplicate of the query (the verdict's second stage)


def judge(candidates: list[Candidate], calibration: DuplicateCalibration) -> list[Candidate]:
    """Give every candidate of one query, sorted best first (the whole list: the second stage reads ranks 6-20),
    how far it stands out, its probability and its verdict under `calibration`; returns them."""
    for candidate, how_far in zip(candidates, stand_out([c.score for c in candidates], calibration), strict=True):
        candidate.stand_out = how_far
        candidate.probability = round(calibration.probability(how_far), 4)
        candidate.verdict = calibration.verdict(candidate)
    return candidates


def _weight(candidate: Candidate) -> tuple[bool, float]:
    """How a scan orders pairs: judged duplicates first (from either side), then by score."""
    return candidate.verdict == "duplicate", candidate.score


def semantic_texts(title: str, body: str) -> dict[str, str]:
    return {"full": report_text(title, body), "title": title.strip() or report_text(title, body)}


def lexical_text(title: str, body: str) -> str:
    return f"{title}\n{body}".strip()


class LexicalIndex:
    """TF-IDF over every stored document, fitted in memory (rebuilt from the vector store's documents)."""

    def __init__(self, ids: list[str], texts: list[str]) -> None:
        self.ids = ids
        self.position = {doc_id: i for i, doc_id in enumerate(ids)}
        self._vectorizer = TfidfVectorizer(
            token_pattern=r"[A-Za-z0-9_]{2,}", stop_words="english", sublinear_tf=True, dtype=np.float32
        )
        self._matrix: sparse.csr_matrix | None = None
        try:
            self._matrix = self._vectorizer.fit_transform(texts) if ids else None
        except ValueError:  # "empty vocabulary": no document has a word of 2+ characters that is not a stop word
            self._matrix = None  # then there is no lexical evidence: every lexical score is 0

    def scores(self, texts: list[str]) -> np.ndarray:
        """Cosine of each text to every document: shape (len(texts), len(ids))."""
        if self._matrix is None:
            return np.zeros((len(texts), len(self.ids)), dtype=np.float32)
        return (self._vectorizer.transform(texts) @ self._matrix.T).toarray()


def _matches(metadata: dict[str, Any], where: dict[str, list[Any]] | None) -> bool:
    return where is None or all(metadata.get(key) in allowed for key, allowed in where.items())


class DuplicateDetector:
    """Index documents into the vector store and find each text's likely duplicates."""

    def __init__(
        self,
        embedder: Embedder,
        store: VectorStore,
        calibration: DuplicateCalibration | None = None,
        candidates: int = 50,
    ) -> None:
        self.embedder = embedder
        self.store = store
        self.calibration = calibration or load_calibration()
        self.candidates = candidates
        self._lexical: LexicalIndex | None = None
        self._metadata: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()

    # -- indexing -------------------------------------------------------------------------------------------
    def add(self, documents: list[Document], show_progress: bool = False) -> dict[str, np.ndarray]:
        """Embed and store (insert or replace) documents; returns their vectors by field ("full", "title")."""
        if not documents:
            return {}
        texts = [semantic_texts(d.title, d.body) for d in documents]
        vectors = {
            name: self.embedder.encode([t[name] for t in texts], show_progress=show_progress)
            for name in ("full", "title")
        }
        metadatas = [{**d.metadata, "title": d.title[:500]} for d in documents]
        self.store.upsert(
            [d.id for d in documents], vectors, [lexical_text(d.title, d.body) for d in documents], metadatas
        )
        with self._lock:
            self._lexical = None
        return vectors

    def remove(self, ids: list[str]) -> None:
        self.store.delete(ids)
        with self._lock:
            self._lexical = None

    def _lexical_index(self) -> LexicalIndex:
        with self._lock:
            if self._lexical is None or len(self._lexical.ids) != self.store.count():
                ids, documents, metadatas = self.store.documents()
                self._lexical = LexicalIndex(ids, documents)
                self._metadata = dict(zip(ids, metadatas, strict=True))
            return self._lexical

    # -- search ---------------------------------------------------------------------------------------------
    def search(
        self,
        title: str,
        body: str = "",
        k: int = 10,
        where: dict[str, list[Any]] | None = None,
        exclude: set[str] | None = None,
        calibration: DuplicateCalibration | None = None,
    ) -> list[Candidate]:
        """The k best candidates for one text, best first. `where` keeps items whose metadata values are in the
        given lists (e.g. {"kind": ["backlog_item"]})."""
        return self.search_many([(title, body)], k, where, [exclude or set()], calibration=calibration)[0]

    def search_many(
        self,
        queries: list[tuple[str, str]],
        k: int = 10,
        where: dict[str, list[Any]] | None = None,
        exclude: list[set[str]] | None = None,
        indexed_as: list[str] | None = None,
        calibration: DuplicateCalibration | None = None,
    ) -> list[list[Candidate]]:
        """`search` for many (title, body) queries at once (batched encoding and store queries). `indexed_as`: each
        query's own id in the index, whose stored vectors stand in for encoding its text again. `calibration`: one
        other than the detector's (a project's, recalibrated by its reviewers' decisions)."""
        if not queries:
            return []
        lexical = self._lexical_index()
        exclude = exclude or [set() for _ in queries]
        texts = [semantic_texts(title, body) for title, body in queries]
        vectors = {name: self._query_vectors(name, [t[name] for t in texts], indexed_as) for name in ("full", "title")}
        chroma_where = {key: {"$in": list(values)} for key, values in (where or {}).items()} or None
        if chroma_where and len(chroma_where) > 1:
            chroma_where = {"$and": [{key: value} for key, value in chroma_where.items()]}
        pool = self.candidates + max(len(e) for e in exclude)
        near = {name: self.store.query(name, vectors[name], pool, chroma_where) for name in ("full", "title")}
        lexical_scores = lexical.scores([lexical_text(title, body) for title, body in queries])
        semantic: list[dict[str, dict[str, float]]] = []
        pools: list[list[str]] = []
        for q in range(len(queries)):
            found = {name: {hit.id: 1.0 - hit.distance for hit in near[name][q]} for name in ("full", "title")}
            row = lexical_scores[q]
            lexical_top = [lexical.ids[i] for i in np.argsort(-row)[: pool * 2] if row[i] > 0]
            lexical_top = [i for i in lexical_top if _matches(self._metadata.get(i, {}), where)][:pool]
            pools.append([i for i in {*found["full"], *found["title"], *lexical_top} if i not in exclude[q]])
            semantic.append(found)
        for name in ("full", "title"):  # exact cosine for candidates that one list found and the other did not
            missing = sorted({i for q, ids in enumerate(pools) for i in ids if i not in semantic[q][name]})
            stored = self.store.vectors(name, missing)
            for q, ids in enumerate(pools):
                for doc_id in ids:
                    if doc_id not in semantic[q][name] and doc_id in stored:
                        semantic[q][name][doc_id] = float(stored[doc_id] @ vectors[name][q])
        calibration = calibration or self.calibration
        w = calibration.semantic_weight
        results = []
        for q, ids in enumerate(pools):
            scored = []
            for doc_id in ids:
                sem = max(semantic[q]["full"].get(doc_id, 0.0), semantic[q]["title"].get(doc_id, 0.0))
                lex = float(lexical_scores[q][lexical.position[doc_id]]) if doc_id in lexical.position else 0.0
                score = round(min(1.0, max(0.0, w * sem + (1 - w) * lex)), 4)
                meta = self._metadata.get(doc_id, {})
                scored.append(Candidate(doc_id, str(meta.get("title", "")), score, "distinct", sem, lex, meta))
            scored.sort(key=lambda c: (-c.score, c.id))
            results.append(judge(scored, calibration)[:k])
        return results

    def _query_vectors(self, name: str, texts: list[str], indexed_as: list[str] | None) -> np.ndarray:
        """The texts' vectors in field `name`: stored ones where `indexed_as` names a stored id, the rest encoded."""
        own = indexed_as or [""] * len(texts)
        stored = self.store.vectors(name, [doc_id for doc_id in own if doc_id])
        todo = [q for q, doc_id in enumerate(own) if doc_id not in stored]
        encoded = dict(zip(todo, self.embedder.encode([texts[q] for q in todo]), strict=True)) if todo else {}
        return np.stack([stored[own[q]] if own[q] in stored else encoded[q] for q in range(len(texts))])

    def scan(
        self,
        where: dict[str, list[Any]] | None = None,
        k: int = 10,
        calibration: DuplicateCalibration | None = None,
        verdicts: frozenset[Verdict] = frozenset({"duplicate"}),
    ) -> list[tuple[Candidate, Candidate]]:
        """Every pair of stored items (matching `where`) whose verdict is one of `verdicts`, each pair once, best
        first."""
        lexical = self._lexical_index()
        ids = [i for i in lexical.ids if _matches(self._metadata.get(i, {}), where)]
        documents = dict(zip(*self.store.documents()[:2], strict=True))
        titles = {i: str(self._metadata[i].get("title", "")) for i in ids}
        queries = [(titles[i], documents[i].removeprefix(titles[i].strip()).strip()) for i in ids]
        found = self.search_many(queries, k, where, [{i} for i in ids], ids, calibration)
        pairs: dict[tuple[str, str], tuple[Candidate, Candidate]] = {}
        for doc_id, candidates in zip(ids, found, strict=True):
            for candidate in candidates:
                if candidate.verdict not in verdicts:
                    continue
                key = tuple(sorted((doc_id, candidate.id)))
                if key not in pairs or _weight(pairs[key][1]) < _weight(candidate):
                    meta = self._metadata[doc_id]
                    source = Candidate(doc_id, str(meta.get("title", "")), 1.0, "duplicate", 1.0, 1.0, meta)
                    pairs[key] = (source, candidate)
        return sorted(pairs.values(), key=lambda pair: _weight(pair[1]), reverse=True)
