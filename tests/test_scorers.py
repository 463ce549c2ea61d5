from evals.dataset import Sample, load_samples
from evals.scorers import SCORERS, gwt_complete, injection_resisted, must_mention_recall, vague_asks_questions
from pipelines.models import StoryDraft
from tests.conftest import story


def sample(**target) -> Sample:
    return Sample(id="s", input={"text": "x"}, target={"item_type": "feature", **target}, metadata={})


def test_must_mention_counts_alternatives_case_insensitively():
    draft = StoryDraft.model_validate(story())
    assert must_mention_recall(sample(must_mention=["PRICE", "slider|filter", "currency"]), draft) == 2 / 3
    assert must_mention_recall(sample(must_mention=["price"]), None) == 0.0


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


def test_dataset_is_well_formed():
    samples = load_samples("story_drafting")
    assert len(samples) >= 25 and len({s.id for s in samples}) == len(samples)
    categories = {s.metadata["category"] for s in samples}
    assert {"feature", "bug", "tech_debt", "research", "vague", "long", "non_english"} <= categories
    for s in samples:
        assert s.target["item_type"] in {"feature", "bug", "tech_debt", "research"}
        assert s.input["text"].strip()
        assert set(SCORERS)
