"""Labels from comparable items (`pipelines.labels`): the vote, its thresholds, and what it leaves alone."""

from __future__ import annotations

from pipelines.labels import MIN_ITEMS, LabelledItem, suggest_labels


def _items(*labelled: tuple[list[str], float]) -> list[LabelledItem]:
    return [LabelledItem(item_id=n, title=f"item {n}", labels=labels, score=score) for n, (labels, score) in
            enumerate(labelled, 1)]  # fmt: skip


def test_the_labels_most_comparables_carry_are_suggested_with_their_share_and_carriers():
    made = suggest_labels(
        _items((["billing"], 0.9), (["billing", "ui"], 0.8), (["billing"], 0.7), (["search"], 0.6), (["ui"], 0.5))
    )
    assert made is not None
    assert [v.label for v in made.labels] == ["billing"]
    assert made.labels[0].items == [1, 2, 3] and made.labels[0].share == round(2.4 / 3.5, 3)
    assert "'billing' on 3 of them" in made.rationale and len(made.comparables) == 5


def test_a_neighbourhood_that_does_not_agree_suggests_nothing():
    assert suggest_labels(_items((["a"], 0.9), (["b"], 0.9), (["c"], 0.9), (["d"], 0.9), (["a"], 0.9))) is None


def test_too_few_labelled_items_suggest_nothing():
    assert suggest_labels(_items(*[(["billing"], 0.9)] * (MIN_ITEMS - 1))) is None


def test_a_label_only_one_comparable_carries_is_not_suggested_however_close():
    made = suggest_labels(_items((["rare"], 1.0), (["x"], 0.01), (["y"], 0.01), (["z"], 0.01), (["w"], 0.01)))
    assert made is None


def test_labels_the_item_has_in_any_case_are_left_out_and_case_variants_vote_together():
    found = _items((["Billing"], 0.9), (["billing"], 0.9), (["billing"], 0.9), (["ui"], 0.1), (["ui"], 0.1))
    assert suggest_labels(found, present=["BILLING"]) is None
    made = suggest_labels(found)
    assert made is not None and [v.label for v in made.labels] == ["Billing"] and made.labels[0].items == [1, 2, 3]


def test_only_the_k_most_similar_vote():
    far = [(["old"], 0.2)] * 10
    near = [(["new"], 0.9)] * 5
    made = suggest_labels(_items(*far, *near), k=5)
    assert made is not None and [v.label for v in made.labels] == ["new"]
