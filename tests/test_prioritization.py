"""Prioritization arithmetic, ranking with dependencies and sprint packing (pure functions; hypothesis)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pipelines.prioritization import (
    CONFIDENCE,
    FIBONACCI,
    IMPACT,
    InputEdits,
    PriorityInputs,
    TeamPriorities,
    blend_with_team,
    bound_by_words,
    plan_sprint,
    priority_level,
    quadrant,
    rank,
    rice,
    score,
    wsjf,
)

fib = st.sampled_from(FIBONACCI)


def inputs(**overrides) -> PriorityInputs:
    data = {
        "goal": None,
        "goal_rationale": "No goal given.",
        "reach": 100,
        "reach_rationale": "Ticket count.",
        "impact": 1.0,
        "impact_rationale": "Medium.",
        "confidence": 0.8,
        "confidence_rationale": "Some data.",
        "effort": 3,
        "effort_rationale": "A few days.",
        "business_value": 5,
        "business_value_rationale": "Useful.",
        "time_criticality": 2,
        "time_criticality_rationale": "No deadline.",
        "risk_reduction": 1,
        "risk_reduction_rationale": "None.",
        "moscow": "should",
        "moscow_rationale": "Wanted.",
    }
    return PriorityInputs.model_validate(data | overrides)


@given(st.integers(0, 10**6), st.sampled_from(IMPACT), st.sampled_from(CONFIDENCE), fib)
def test_rice_is_reach_times_impact_times_confidence_over_effort(reach, impact, confidence, effort):
    value = rice(reach, impact, confidence, effort)
    assert value == pytest.approx(reach * impact * confidence / effort)
    assert rice(reach * 2, impact, confidence, effort) == pytest.approx(2 * value)  # linear in reach
    assert rice(reach, impact, confidence, effort * 2) == pytest.approx(value / 2)  # inverse in effort


@given(fib, fib, fib, fib)
def test_wsjf_is_cost_of_delay_over_job_size(value, criticality, risk, size):
    assert wsjf(value, criticality, risk, size) == pytest.approx((value + criticality + risk) / size)
    assert wsjf(value, criticality, risk, size) > 0


def test_zero_effort_is_refused():
    with pytest.raises(ValueError):
        rice(1, 1, 1, 0)
    with pytest.raises(ValueError):
        wsjf(1, 1, 1, 0)


@given(fib, fib)
def test_quadrants(value, effort):
    expected = {
        (True, False): "quick win",
        (True, True): "big bet",
        (False, False): "fill-in",
        (False, True): "money pit",
    }
    assert quadrant(value, effort) == expected[(value >= 8, effort >= 8)]


def test_scores_explain_their_arithmetic():
    key, text = score("rice", inputs(reach=200, impact=2.0, confidence=0.5, effort=5))
    assert key == 40 and text == "RICE 200 x 2.0 x 0.5 / 5 = 40.0"
    key, text = score("wsjf", inputs(business_value=8, time_criticality=5, risk_reduction=3, effort=4 if False else 8))
    assert key == 2 and "(8 + 5 + 3) / 8 = 2.00" in text
    must, _ = score("moscow", inputs(moscow="must", business_value=1, effort=20))
    could, _ = score("moscow", inputs(moscow="could", business_value=20, effort=1))
    assert must > could
    win, text = score("value_effort", inputs(business_value=13, effort=2))
    pit, _ = score("value_effort", inputs(business_value=1, effort=13))
    assert win > pit and text.startswith("quick win")


def test_editing_an_input_recomputes_the_score():
    original = inputs(reach=100, effort=5)
    edited = InputEdits(reach=400).apply(original)
    assert score("rice", edited)[0] == 4 * score("rice", original)[0]
    with pytest.raises(ValueError):
        InputEdits.model_validate({"effort": 4})  # not on the Fibonacci scale


@st.composite
def ranked_items(draw):
    ids = draw(st.lists(st.integers(1, 40), min_size=1, max_size=12, unique=True))
    scores = {i: draw(st.floats(0, 1000, allow_nan=False)) for i in ids}
    depends = {i: draw(st.lists(st.sampled_from(ids + [99]), max_size=3)) for i in ids}
    return scores, depends


@given(ranked_items())
def test_rank_keeps_every_item_once_and_respects_dependencies(data):
    scores, depends = data
    order = rank(scores, depends)
    assert sorted(order) == sorted(scores)
    position = {item: i for i, item in enumerate(order)}
    kept = 0
    for item, dependencies in depends.items():
        for dependency in dependencies:
            if dependency in position and dependency != item and position[dependency] > position[item]:
                # only an edge that would close a cycle may be broken
                assert item in _ancestors(depends, dependency, set(scores))
            elif dependency in position:
                kept += 1


def _ancestors(depends, start, ids):
    seen, stack = set(), [start]
    while stack:
        node = stack.pop()
        for d in depends.get(node, []):
            if d in ids and d not in seen:
                seen.add(d)
                stack.append(d)
    return seen


def test_without_dependencies_rank_is_by_score_and_a_dependency_pulls_its_prerequisite_up():
    scores = {1: 10.0, 2: 50.0, 3: 30.0}
    assert rank(scores, {}) == [2, 3, 1]
    assert rank(scores, {2: [1]}) == [1, 2, 3]  # 2 is best but needs 1 first
    assert sorted(rank({1: 1.0, 2: 2.0}, {1: [2], 2: [1]})) == [1, 2]  # a cycle does not lose items


@given(ranked_items(), st.integers(0, 60))
def test_sprint_plan_fits_capacity_and_never_takes_an_item_before_its_dependencies(data, capacity):
    scores, depends = data
    points = {i: FIBONACCI[i % len(FIBONACCI)] for i in scores}
    order = rank(scores, depends)
    plan = plan_sprint(order, points, depends, capacity)
    assert sum(points[i] for i in plan) <= capacity
    for item in plan:
        assert all(d not in scores or d in plan for d in depends.get(item, []) if d != item) or any(
            item in _ancestors(depends, d, set(scores)) for d in depends.get(item, [])
        )


def test_an_outage_in_the_text_makes_a_trivial_urgency_at_least_major_and_says_why():
    item = inputs(time_criticality=1, time_criticality_rationale="Nothing depends on the date.")
    moved = bound_by_words(item, "Checkout crashes and orders are lost\nSince the last release.")
    assert item.time_criticality == 5 and moved and "'crashes'" in moved and "Major" in moved
    assert "Adjusted" in item.time_criticality_rationale and len(item.time_criticality_rationale) <= 300
    PriorityInputs.model_validate(item.model_dump())  # still valid: an accepted edit re-validates it
    major = inputs(time_criticality=13)
    assert bound_by_words(major, "The app crashes") is None and major.time_criticality == 13  # never lowered


def test_trivia_in_the_text_no_longer_lowers_the_urgency():
    item = inputs(time_criticality=8)  # the rule that made it Trivial lowered agreement on the larger dev sample
    assert bound_by_words(item, "Fix a typo in the footer") is None and item.time_criticality == 8
    plain = inputs(time_criticality=3)
    assert bound_by_words(plain, "Add dark mode for reading at night") is None and plain.time_criticality == 3


def test_priority_names_of_jira_linear_and_p_labels_are_levels():
    assert [priority_level(n) for n in ("Blocker", "highest", " Critical ", "Major", "Medium", "Low", "Trivial")] == [
        4, 4, 3, 2, 2, 1, 0,
    ]  # fmt: skip
    assert (priority_level("P0"), priority_level("p4"), priority_level("someday"), priority_level(None)) == (
        4,
        0,
        None,
        None,
    )


def team_history(copies: int) -> tuple[list[str], list[int | None]]:
    """Made-up decided items: outages Blocker, wishes Major, trivia Trivial, and undecided ones."""
    texts, levels = [], []
    for n in range(copies):
        texts += [f"Server crash loses data in job {n}", f"Add an option to export report {n}", f"Typo in page {n}"]
        texts.append(f"Someday maybe {n}")
        levels += [4, 2, 0, None]
    return texts, levels


def test_the_team_classifier_needs_enough_decided_items_over_three_levels(monkeypatch):
    monkeypatch.setattr("pipelines.prioritization.TEAM_MIN_ITEMS", 30)
    assert TeamPriorities.fit(*team_history(9)) is None  # 27 decided items
    team = TeamPriorities.fit(*team_history(10))
    assert team is not None and team.size == 30  # the undecided ones are left out
    texts, levels = team_history(20)
    assert TeamPriorities.fit(texts, [0 if level == 2 else level for level in levels]) is None  # two levels only
    crash, typo = team.level("A crash on the server loses data"), team.level("Typo on the page")
    assert crash > 3 and typo < 1, (crash, typo)


def test_blending_with_the_team_averages_its_level_with_the_models_and_says_why():
    item = inputs(time_criticality=1, time_criticality_rationale="Nothing depends on the date.")
    moved = blend_with_team(item, 3.0)  # (Trivial + Critical) / 2 = 1.5: Major
    assert item.time_criticality == 5 and moved and "Critical" in moved
    assert "Adjusted" in item.time_criticality_rationale and len(item.time_criticality_rationale) <= 300
    PriorityInputs.model_validate(item.model_dump())
    near = inputs(time_criticality=13)  # Critical, the team says Major: 2.5, still Critical
    assert blend_with_team(near, 2.0) is None and near.time_criticality == 13
    far = inputs(time_criticality=20, time_criticality_rationale="x" * 300)  # Blocker, team Trivial: 2, Major
    assert blend_with_team(far, 0.0) and far.time_criticality == 5 and len(far.time_criticality_rationale) <= 300
