import pytest

from pipelines.models import StoryDraft
from prompts import PromptTemplate, load_prompt


def test_draft_prompt_loads_with_version_and_valid_examples():
    prompt = load_prompt("draft_story")
    assert {e.output["item_type"] for e in prompt.examples} == {"feature", "bug", "tech_debt", "research"}
    assert prompt.version
    assert prompt.schema_name == "StoryDraft"
    assert prompt.variables == {"text", "context"}
    for example in prompt.examples:
        StoryDraft.model_validate(example.output)


def test_missing_variable_is_an_error_not_an_empty_string():
    prompt = load_prompt("draft_story")
    with pytest.raises(KeyError, match="text"):
        prompt.render_user(context="x")


def test_messages_put_examples_before_the_real_input():
    messages = load_prompt("draft_story").messages(text="dark mode please", context="not given")
    prompt = load_prompt("draft_story")
    assert [m["role"] for m in messages] == ["system"] + ["user", "assistant"] * len(prompt.examples) + ["user"]
    assert "dark mode please" in messages[-1]["content"]


def test_invalid_placeholder_is_rejected_at_load():
    with pytest.raises(ValueError, match="placeholder"):
        PromptTemplate.model_validate(
            {"id": "x", "version": "1", "schema": "StoryDraft", "system": "s", "user": "$", "reask": "$error"}
        )
