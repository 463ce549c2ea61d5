"""Duplicate detection with the real embedding model (all-MiniLM-L6-v2) on a real Chroma: embedded (persistent)
and a `chroma run` server started here."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from pipelines.duplicates import (
    Candidate,
    Decision,
    Document,
    DuplicateCalibration,
    DuplicateDetector,
    StandOut,
    load_calibration,
    stand_out,
)
from pipelines.embeddings import EmbeddingsUnavailable, get_embedder, resolve_model_path
from pipelines.vectorstore import VectorStore, VectorStoreUnavailable, open_client
from tests.chroma_server import chroma_server

ITEMS = [
    Document(
        id="a",
        title="App crashes when uploading a large photo",
        body="Uploading a 20 MB photo closes the app.",
        metadata={"kind": "backlog_item", "item_id": 1},
    ),
    Document(
        id="b",
        title="Export the monthly report as PDF",
        body="Finance wants a PDF of the monthly report.",
        metadata={"kind": "backlog_item", "item_id": 2},
    ),
    Document(
        id="c",
        title="Dark mode for the settings screen",
        body="The settings screen is too bright at night.",
        metadata={"kind": "suggestion", "item_id": 7},
    ),
    Document(
        id="d",
        title="Password reset email never arrives",
        body="Users never receive the reset link email.",
        metadata={"kind": "backlog_item", "item_id": 4},
    ),
]
QUERY = ("Crash on large image upload", "When I upload a big picture (about 25 MB) the application crashes.")


@pytest.fixture(scope="module")
def embedder():
    return get_embedder()


def detector_on(client, embedder) -> DuplicateDetector:
    detector = DuplicateDetector(embedder, VectorStore(client, embedder, "test-items"), load_calibration())
    detector.add(ITEMS)
    return detector


def check_search(detector: DuplicateDetector) -> None:
    found = detector.search(*QUERY, k=4)
    assert [c.id for c in found][0] == "a"
    assert found[0].verdict in ("duplicate", "related") and found[0].score > found[1].score + 0.2
    assert all(c.verdict == "distinct" for c in found[1:])
    assert found[0].metadata["item_id"] == 1 and found[0].title.startswith("App crashes")


def test_embeddings_are_normalised_and_put_paraphrases_close(embedder):
    vectors = embedder.encode(["the app crashes on login", "login makes the application crash", "add dark mode"])
    assert vectors.shape == (3, 384) and np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert vectors[0] @ vectors[1] > 0.7 > 0.3 > vectors[0] @ vectors[2]


def test_a_missing_embedding_model_is_a_clear_error(tmp_path):
    with pytest.raises(EmbeddingsUnavailable, match="never downloaded"):
        resolve_model_path(str(tmp_path / "no-such-model"))
    assert (resolve_model_path("all-MiniLM-L6-v2") / "config.json").is_file()


def test_embedded_chroma_finds_the_duplicate_and_persists(tmp_path: Path, embedder):
    detector = detector_on(open_client(tmp_path / "chroma"), embedder)
    check_search(detector)
    # reopened from disk by a new client: same answers, nothing re-embedded
    reopened = DuplicateDetector(embedder, VectorStore(open_client(tmp_path / "chroma"), embedder, "test-items"))
    assert reopened.store.count() == 4
    check_search(reopened)


def test_filters_exclusions_and_removal(tmp_path: Path, embedder):
    detector = detector_on(open_client(tmp_path / "chroma"), embedder)
    only_suggestions = detector.search(*QUERY, k=4, where={"kind": ["suggestion"]})
    assert [c.id for c in only_suggestions] == ["c"]
    assert "a" not in [c.id for c in detector.search(*QUERY, k=4, exclude={"a"})]
    detector.remove(["a"])
    assert detector.store.count() == 3 and "a" not in [c.id for c in detector.search(*QUERY, k=4)]
    detector.add([ITEMS[0].model_copy(update={"id": "a2"})])  # the lexical index follows additions
    assert detector.search(*QUERY, k=1)[0].id == "a2"


def test_verdicts_follow_the_calibrated_thresholds(tmp_path: Path, embedder):
    strict = DuplicateCalibration(semantic_weight=0.4, duplicate_probability=0.99, related_threshold=0.98)
    lenient = DuplicateCalibration(
        semantic_weight=0.4, duplicate_probability=0.01, related_threshold=0.01, small_index_threshold=0.05
    )
    client = open_client(tmp_path / "chroma")
    detector = detector_on(client, embedder)
    detector.calibration = strict
    assert {c.verdict for c in detector.search(*QUERY)} == {"distinct"}
    detector.calibration = lenient
    assert detector.search(*QUERY)[0].verdict == "duplicate"


def test_scan_reports_each_duplicate_pair_once(tmp_path: Path, embedder):
    detector = detector_on(open_client(tmp_path / "chroma"), embedder)
    detector.add(
        [
            Document(
                id="e",
                title="Large photo upload crashes the app",
                body="The app closes when uploading a 20 MB photo.",
                metadata={"kind": "backlog_item"},
            )
        ]
    )
    pairs = detector.scan(where={"kind": ["backlog_item"]})
    assert [tuple(sorted((a.id, b.id))) for a, b in pairs] == [("a", "e")]
    assert pairs[0][1].verdict == "duplicate"


def test_stored_vectors_give_the_same_candidates_as_encoding_again(tmp_path: Path, embedder):
    detector = detector_on(open_client(tmp_path / "chroma"), embedder)
    queries = [(d.title, d.body) for d in ITEMS] + [QUERY]
    own = [d.id for d in ITEMS] + ["not-indexed"]  # a query not in the index is encoded as before
    exclude = [{i} for i in own]

    encoded = detector.search_many(queries, 3, None, exclude)
    stored = detector.search_many(queries, 3, None, exclude, indexed_as=own)

    assert [[(c.id, c.verdict) for c in row] for row in stored] == [[(c.id, c.verdict) for c in row] for row in encoded]
    assert np.allclose([c.score for row in stored for c in row], [c.score for row in encoded for c in row], atol=1e-3)
    assert stored[-1][0].id == "a"


def test_chroma_server_serves_the_same_code(embedder):
    with chroma_server() as (host, port):
        detector = detector_on(open_client(host=host, port=port), embedder)
        check_search(detector)


def test_an_unreachable_chroma_server_is_a_clear_error(embedder):
    from tests.postgres import _free_port

    with pytest.raises(VectorStoreUnavailable, match="chroma run"):
        VectorStore(open_client(host="127.0.0.1", port=_free_port()), embedder)


def test_the_second_stage_reads_how_far_a_score_stands_out_of_its_own_background():
    calibration = DuplicateCalibration(z_weight=1.0, gap_weight=0.0, intercept=-4.0, related_threshold=0.3)

    def judged(scores: list[float]) -> Candidate:
        best = Candidate("x", "", scores[0], "distinct", scores[0], scores[0])
        best.stand_out = stand_out(scores, calibration)[0]
        best.probability = calibration.probability(best.stand_out)
        best.verdict = calibration.verdict(best)
        return best

    # the same best score is a duplicate on a tracker whose other candidates score low, not where all score high
    low = judged([0.6, 0.3, 0.29, 0.28, 0.27, *[0.2 + 0.01 * (i % 3) for i in range(15)]])
    high = judged([0.6, 0.59, 0.58, 0.58, 0.57, *[0.55 + 0.01 * (i % 3) for i in range(15)]])
    assert low.stand_out.z > 10 > 3 > high.stand_out.z and low.stand_out.gap == 0.3
    assert (low.verdict, high.verdict) == ("duplicate", "related")
    assert judged([0.2, *[0.01] * 19]).verdict == "distinct"  # below `related`: never more, however it stands out
    # a short list (a small backlog) is measured against the reference background, and `duplicate` also needs the
    # one-stage score threshold there: nothing to tell how unusual the score is
    short = judged([0.6, 0.1])
    assert short.stand_out.z == round((0.6 - calibration.reference_mean) / calibration.reference_sd, 4)
    assert short.stand_out.background == 0 and short.probability > 0.9 and short.verdict == "related"
    assert judged([0.7, 0.1]).verdict == "duplicate"


def test_reviewer_decisions_move_the_probability_their_way_and_none_leave_it():
    calibration = DuplicateCalibration(z_weight=1.0, gap_weight=0.0, intercept=-4.0)
    pair = StandOut(z=5.0, gap=0.1)  # probability 0.73 before any decision
    assert calibration.recalibrated([]).probability(pair) == calibration.probability(pair)
    rejected = calibration.recalibrated([Decision(stand_out=StandOut(z=z, gap=0.1), same=False) for z in (4, 5, 6) * 7])
    accepted = calibration.recalibrated([Decision(stand_out=StandOut(z=z, gap=0.1), same=True) for z in (3, 4, 5) * 7])
    assert rejected.decisions == 21 and rejected.probability(pair) < 0.5 < 0.73 < accepted.probability(pair)
    assert calibration.decisions == 0  # recalibrated returns a copy
