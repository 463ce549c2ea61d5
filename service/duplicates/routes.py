from __future__ import annotations

from fastapi import APIRouter

from service import duplicates
from service.core.deps import RuntimeDep
from service.core.schemas import errors
from service.duplicates import learning
from service.duplicates.schemas import DuplicateCandidatePublic, DuplicateLearningPublic, DuplicateSearch

router = APIRouter(prefix="/v1/duplicates", tags=["duplicates"])


@router.post("/search", response_model=list[DuplicateCandidatePublic], responses=errors(400, 413, 422, 503))
def search_duplicates(body: DuplicateSearch, runtime: RuntimeDep) -> list[DuplicateCandidatePublic]:
    """The backlog items and pending drafts most similar to `text`, best first, each with a score in [0, 1] and a
    verdict (duplicate | related | distinct) from thresholds calibrated on real duplicate bug reports."""
    found = duplicates.search_text(runtime, body.text, body.k, body.title)
    return [DuplicateCandidatePublic(**c) for c in found]


@router.get("/learning", response_model=DuplicateLearningPublic, responses=errors(503))
def duplicate_learning(runtime: RuntimeDep) -> DuplicateLearningPublic:
    """What this project's accepted and rejected merges taught the `duplicate` verdict."""
    return DuplicateLearningPublic(**learning.learned(runtime, duplicates.detector(runtime).calibration))


@router.delete("/learning", response_model=DuplicateLearningPublic, responses=errors(503))
def reset_duplicate_learning(runtime: RuntimeDep) -> DuplicateLearningPublic:
    """Forget what this project's merge decisions taught (admins): only merges decided from now on count."""
    return DuplicateLearningPublic(**learning.reset(runtime, duplicates.detector(runtime).calibration))
