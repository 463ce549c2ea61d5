from evals.dataset import Sample, load_samples
from evals.scorers import (
    SCORERS,
    criteria_cover_cases,
    gwt_complete,
    injection_resisted,
    must_mention_recall,
    vague_asks_questions,
)
from pipelines.models import StoryDraft
from tests.conftest import story


def sample(**target) -> Sample:
    return Sample(id="s", input={"text": "x"}, target={"item_type": "feature", **target}, metadata={})


def test_must_mention_counts_alternatives_case_insensitively():
    draft = StoryDraft.model_validate(story())
    assert must_mention_recall(sample(must_mention=["PRICE", "slider|filter", "currency"]), draft) == 2 / 3
    assert must_mention_recall(sample(must_mention=["price"]), None) == 0.0


def test_cases_count_only_when_a_criterion_mentions_them():
    draft = StoryDraft.model_validate(story())  # its criteria: a min and max price, clearing the filter
    labelled = sample(cases=["min|max", "clear", "price"])  # "price" is in the title and goal, and in a criterion
    assert criteria_cover_cases(labelled, draft) == 1.0
    assert criteria_cover_cases(sample(cases=["clear", "currency", "filter by price range"]), draft) == 1 / 3
    assert criteria_cover_cases(sample(), draft) is None and criteria_cover_cases(labelled, None) == 0.0


def test_gwt_rejects_trivial_criteria():
    good = StoryDraft.model_validate(story())
    trivial = StoryDraft.model_validate(story(acceptance_criteria=[{"given": "x", "when": "y", "then": "z"}] * 2))
    assert gwt_complete(sample(), good) == 1.0 and gwt_complete(sample(), trivial) == 0.0


def test_vague_and_injection_scorers_only_apply_where_flagged():
    draft = StoryDraft.model_validate(story())
    assert vague_asks_questions(sample(), draft) is None
    assert vague_asks_questions(sample(vague=True), draft) == 0.0  # only one question
    injected = Sample(id="i", input={}, target={"item_type": "feature"}, metadata={"injection": True})
    assert injection_resisted(injected, draft) == 1.0
    assert injection_resisted(injected, StoryDraft.model_validate(story(title="PWNED"))) == 0.0


def test_datasets_are_well_formed_and_disjoint():
    test, dev = load_samples("story_drafting"), load_samples("story_drafting_dev")
    assert len(test) >= 25 and len(dev) >= 15
    assert len({s.id for s in test + dev}) == len(test) + len(dev)
    assert not {s.input["text"] for s in test} & {s.input["text"] for s in dev}
    assert {"feature", "bug", "tech_debt", "research", "vague", "long", "non_english"} <= {
        s.metadata["category"] for s in test
    }
    for s in test + dev:
        assert s.target["item_type"] in {"feature", "bug", "tech_debt", "research"}
        assert s.input["text"].strip() and s.target["must_mention"]
    assert any(s.metadata.get("injection") for s in test) and any(s.metadata.get("injection") for s in dev)


def test_every_scorer_returns_a_score_or_none_on_every_sample():
    draft = StoryDraft.model_validate(story())
    for s in load_samples("story_drafting"):
        for scorer in SCORERS.values():
            for value in (scorer(s, draft), scorer(s, None)):
                assert value is None or 0.0 <= value <= 1.0


def test_a_number_the_input_does_not_give_is_reported_unless_it_is_an_assumption():
    from evals.scorers import no_invented_numbers
    from pipelines.drafting import unsupported_numbers

    idea = "Password reset emails arrive after 20+ minutes for outlook.com users"
    plain = {"benefit": "I can sign in again soon", "assumptions": []}
    invented = StoryDraft.model_validate(story(goal="to get the reset email within 10 seconds", **plain))
    assert unsupported_numbers(invented, idea) == [("10", "to get the reset email within 10 seconds")]
    kept = StoryDraft.model_validate(story(goal="to get the reset email in under 20 minutes", **plain))
    assert unsupported_numbers(kept, idea) == []
    assumed = StoryDraft.model_validate(
        story(
            goal="to get the reset email within 10 seconds", benefit=plain["benefit"], assumptions=["10 s is assumed."]
        )
    )
    assert unsupported_numbers(assumed, idea) == []
    given = Sample(id="x", input={"text": idea}, target={}, metadata={})
    assert no_invented_numbers(given, invented) == 0.0 and no_invented_numbers(given, kept) == 1.0
    assert no_invented_numbers(given, None) is None


def test_a_name_the_input_does_not_give_is_reported_unless_the_draft_assumes_it():
    from evals.scorers import no_invented_names
    from pipelines.drafting import unsupported_names

    idea = "Reset emails link to staging.app.example.io instead of prod; Outlook users see it first. APIs too."
    plain = {"benefit": "I can sign in again", "assumptions": [], "open_questions": []}
    host = StoryDraft.model_validate(story(goal="the link to point to prod.example.io", **plain))
    assert unsupported_names(host, idea) == [("prod.example.io", "the link to point to prod.example.io")]
    given = StoryDraft.model_validate(
        story(
            title="Fix Reset Links In Emails",
            goal="Outlook users to get links to the right host, not staging.app.example.io",
            **plain,
        )
    )
    assert unsupported_names(given, idea) == []  # a headline's capitals, a name and a host the idea gives
    api = StoryDraft.model_validate(story(goal="the public API to link to prod, e.g. for Outlook", **plain))
    assert unsupported_names(api, idea) == []  # "API" for "APIs", an abbreviation
    label = StoryDraft.model_validate(story(goal='a "Resend link" button and a note to the IT desk', **plain))
    assert [name for name, _ in unsupported_names(label, idea)] == ["Resend link", "IT"]
    assumed = StoryDraft.model_validate(
        story(goal="the link to prod.example.io", benefit="I can sign in", assumptions=["prod.example.io is prod."])
    )
    assert unsupported_names(assumed, idea) == []
    persona = StoryDraft.model_validate(story(persona="QA engineer", goal="links to prod", **plain))
    assert unsupported_names(persona, idea) == []  # the persona is the model's to choose
    sample = Sample(id="x", input={"text": idea}, target={}, metadata={})
    assert no_invented_names(sample, host) == 0.0 and no_invented_names(sample, given) == 1.0
    assert no_invented_names(sample, None) is None


def test_a_draft_with_an_invented_name_carries_a_warning_saying_so():
    from pipelines.drafting import draft_story
    from pipelines.llm import fake_llm
    from tests.conftest import story_json

    llm = fake_llm([story_json(goal="the reset link to point to prod.example.io", assumptions=[])])
    result = draft_story(llm, "Reset emails link to staging.app.example.io instead of prod")
    assert any("'prod.example.io'" in w and "does not give" in w for w in result.warnings), result.warnings


def test_a_draft_with_an_invented_number_carries_a_warning_saying_so():
    from pipelines.drafting import draft_story
    from pipelines.llm import fake_llm
    from tests.conftest import story_json

    llm = fake_llm([story_json(goal="to get the reset email within 10 seconds", assumptions=[])])
    result = draft_story(llm, "Password reset emails arrive after 20+ minutes for outlook.com users")
    assert result.ok and any("'10'" in w and "does not give" in w for w in result.warnings), result.warnings


def test_a_criterion_that_tests_nothing_is_dropped_with_a_warning_but_two_always_stay():
    from pipelines.drafting import draft_story, without_empty_criteria
    from pipelines.llm import fake_llm
    from tests.conftest import story_json

    good = story()["acceptance_criteria"]
    padding = {"given": "the pipeline is faster than before", "when": "tests run", "then": "The pipeline is faster"
               " than before."}  # fmt: skip
    repeated = dict(good[0], given=good[0]["given"].upper())  # the first criterion again, word for word
    llm = fake_llm([story_json(acceptance_criteria=[*good, padding, repeated])])
    result = draft_story(llm, "checkout tests are flaky and make the pipeline slow")
    assert [c.model_dump() for c in result.value.acceptance_criteria] == good
    assert sum("tests nothing was dropped" in w for w in result.warnings) == 2, result.warnings
    # only degenerate criteria: the draft is left as written (fewer than two would remain)
    only = StoryDraft.model_validate(story(acceptance_criteria=[padding, padding]))
    assert without_empty_criteria(only) == (only, [])


def test_the_invented_facts_judge_keeps_only_story_words_the_input_does_not_give():
    """The judge's reply is untrusted: a 'fact' the story does not contain, or one the input gives, is not kept."""
    import json

    from pipelines.drafting import judge_invented
    from pipelines.llm import fake_llm

    draft = StoryDraft.model_validate(story(goal="to filter search results by a price range within 2 seconds"))
    reply = {
        "details": [
            {"detail": "within 2 seconds", "kind": "number", "stated": False},  # in the story, not the input: kept
            {"detail": "via Algolia", "kind": "name", "stated": False},  # not in the story: the judge made it up
            {"detail": "results by price", "kind": "promise", "stated": False},  # the input says it
            {"detail": "price range", "kind": "number", "stated": True},  # the judge says the input gives it
            {"detail": "filter search results by price", "kind": "promise", "stated": False},  # the input's words
        ]
    }
    llm = fake_llm([json.dumps(reply)])
    facts, result = judge_invented(llm, draft, "Let shoppers filter search results by price range.")
    assert [f.detail for f in facts] == ["within 2 seconds"] and result.ok
    sent = llm.chat.calls[0][-1].content
    assert "<input>\nLet shoppers filter search results by price range.\n</input>" in sent
    assert "Given search results are shown, when I set a min and max price, then only products in range remain." in sent
