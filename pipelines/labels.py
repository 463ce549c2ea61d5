"""Labels from comparable items: the k most similar items that already have labels vote for theirs, each with its
similarity as its weight, and a label is suggested when its share of the vote reaches `MIN_SHARE` and at least two
items carry it. A neighbourhood that does not agree suggests nothing: a wrong label costs a reviewer's trust.

`K` and `MIN_SHARE` were chosen on the dev apps of the `labels` eval (reviews with manual topic labels, each app's
earlier half labelled, its later half suggested) as the highest F1 at a precision of at least 0.7; README reports
them on the held-out apps.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

K = 15
MIN_SHARE = 0.6
MIN_ITEMS = 5  # labelled items to compare with, at least: fewer say too little
MIN_CARRIERS = 2  # a label one comparable carries is that item's, not the neighbourhood's
POOL = 5 * K  # the search's candidates, of which those with labels are compared with


class LabelledItem(BaseModel):
    """A past item with labels, and how similar it is to the one being labelled (0..1)."""

    item_id: int
    title: str
    labels: list[str]
    score: float = Field(ge=0, le=1)


class LabelShare(BaseModel):
    label: str
    share: float = Field(ge=0, le=1, description="Its share of the comparables' similarity-weighted vote.")
    items: list[int] = Field(description="The comparables that carry it.")


class LabelSuggestion(BaseModel):
    labels: list[LabelShare]
    rationale: str
    comparables: list[LabelledItem]


def _key(label: str) -> str:
    return label.strip().casefold()


def suggest_labels(
    similar: list[LabelledItem],
    present: list[str] | tuple[str, ...] = (),
    k: int = K,
    min_share: float = MIN_SHARE,
) -> LabelSuggestion | None:
    """The labels the `k` most similar labelled items agree on that the item lacks (`present`, in any case), most
    agreed first; None when fewer than `MIN_ITEMS` are given or none stands out."""
    comparables = sorted(similar, key=lambda c: -c.score)[:k]
    if len(comparables) < MIN_ITEMS:
        return None
    total = sum(c.score for c in comparables) or 1.0
    votes: dict[str, LabelShare] = {}
    for comparable in comparables:
        for label in {_key(label): label for label in comparable.labels}.values():
            vote = votes.setdefault(_key(label), LabelShare(label=label, share=0.0, items=[]))
            vote.share += comparable.score / total
            vote.items.append(comparable.item_id)
    had = {_key(label) for label in present}
    chosen = sorted(
        (v for key, v in votes.items() if key not in had and v.share >= min_share and len(v.items) >= MIN_CARRIERS),
        key=lambda v: -v.share,
    )
    if not chosen:
        return None
    for vote in chosen:
        vote.share = round(min(vote.share, 1.0), 3)
    said = "; ".join(f"'{v.label}' on {len(v.items)} of them ({v.share:.0%} of the vote)" for v in chosen)
    rationale = f"the {len(comparables)} most similar labelled items: {said}"
    return LabelSuggestion(labels=chosen, rationale=rationale, comparables=comparables)


def shown(made: LabelSuggestion) -> dict[str, Any]:
    """How a suggestion and a draft's evidence show a vote: each label's share and carriers (`shares`), why, and the
    comparables."""
    return {
        "shares": [v.model_dump() for v in made.labels],
        "rationale": made.rationale,
        "comparables": [c.model_dump() for c in made.comparables],
    }
