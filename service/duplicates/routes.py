from __future__ import annotations

from fastapi import APIRouter

from service import duplicates
from service.core.deps import RuntimeDep
from service.core.schemas import errors
from service.duplicates.schemas import DuplicateCandidatePublic, DuplicateSearch

router = APIRouter(prefix="/v1/duplicates", tags=["duplicates"])


@router.post("/search", response_model=list[DuplicateCandidatePublic], responses=errors(400, 413, 422, 503))
def search_duplicates(body: DuplicateSearch, runtime: RuntimeDep) -> list[DuplicateCandidatePublic]:
    """The backlog items and pending drafts most similar to `text`, best first, each with a score in [0, 1] and a
    verdict (duplicate | related | distinct) from thresholds calibrated on real duplicate bug reports."""
    found = duplicates.search_text(runtime, body.text, body.k, body.title)
    return [DuplicateCandidatePublic(**c) for c in found]
