"""The typed vocabulary shared by pipelines, service and evals.

These models are also the JSON schemas handed to the LLM, so field descriptions are written for the model.
"""

from __future__ import annotations

from typing import Annotated, Literal, get_args

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

ItemType = Literal["feature", "bug", "tech_debt", "research"]
ITEM_TYPES: tuple[str, ...] = get_args(ItemType)

Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000)]
ShortText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=300)]
Label = Annotated[str, StringConstraints(strip_whitespace=True, to_lower=True, min_length=1, max_length=40)]

# Words a criterion's clause may start with that are not names: written after "Given", "when" or "then" in lower case.
_LEADING = frozenset({
    "the", "a", "an", "one", "some", "any", "all", "each", "every", "no", "there", "this", "that", "these", "those",
    "they", "he", "she", "it", "we", "you", "my", "our", "your", "their", "his", "her", "its",
})  # fmt: skip


def _clause(text: str) -> str:
    """A clause as it reads after "Given", "when" or "then": "Given the user ...", not "Given The user ..." (as the
    model often writes it); a name or an acronym keeps its capitals."""
    word = text.split(None, 1)[0] if text else ""
    return text[0].lower() + text[1:] if word == word.capitalize() and word.lower() in _LEADING else text


Clause = Annotated[Text, AfterValidator(_clause)]


class AcceptanceCriterion(BaseModel):
    """One testable acceptance criterion in Given/When/Then form."""

    model_config = ConfigDict(extra="forbid")

    given: Clause = Field(description="The starting state or precondition (for a bug: the steps to reproduce).")
    when: Clause = Field(description="The action the user or system takes.")
    then: Clause = Field(description="The observable, testable outcome (for a bug: the correct behaviour).")


class StoryDraft(BaseModel):
    """A draft user story: 'As a <persona>, I want <goal>, so that <benefit>'."""

    model_config = ConfigDict(extra="forbid")

    # item_type comes first so the model classifies the input before its own title can sway it.
    item_type: ItemType = Field(description="feature, bug, tech_debt or research.")
    title: Annotated[str, StringConstraints(strip_whitespace=True, min_length=3, max_length=120)] = Field(
        description="A short imperative title, at most 12 words."
    )
    persona: ShortText = Field(description="Who wants this, e.g. 'online shopper' or 'billing admin'.")
    goal: Text = Field(description="What the persona wants to do.")
    benefit: Text = Field(description="Why: the value the persona gets.")
    acceptance_criteria: list[AcceptanceCriterion] = Field(
        min_length=2, max_length=8, description="2 to 5 testable Given/When/Then criteria."
    )
    labels: list[Label] = Field(max_length=8, description="Up to 4 short lowercase labels.")
    assumptions: list[ShortText] = Field(max_length=10, description="What you inferred that the input did not say.")
    open_questions: list[ShortText] = Field(
        max_length=10, description="What a person must clarify before the work can start."
    )

    @property
    def statement(self) -> str:
        """The classic one-line user story."""
        return f"As a {self.persona}, I want {self.goal}, so that {self.benefit}"


class StoryDraftEdits(BaseModel):
    """A partial StoryDraft: the fields a reviewer changed before accepting."""

    model_config = ConfigDict(extra="forbid")

    title: str | None = None
    persona: str | None = None
    goal: str | None = None
    benefit: str | None = None
    acceptance_criteria: list[AcceptanceCriterion] | None = None
    item_type: ItemType | None = None
    labels: list[str] | None = None
    assumptions: list[str] | None = None
    open_questions: list[str] | None = None

    def apply(self, draft: StoryDraft) -> StoryDraft:
        """Return the draft with these edits applied, validated as a whole."""
        merged = draft.model_dump() | self.model_dump(exclude_unset=True, mode="json")
        return StoryDraft.model_validate(merged)


def story_markdown(draft: StoryDraft) -> str:
    """The story as a Markdown description: statement, Given/When/Then checklist, assumptions, questions."""
    lines = [draft.statement + ".", "", "**Acceptance criteria**"]
    lines += [f"- [ ] Given {c.given}, when {c.when}, then {c.then}" for c in draft.acceptance_criteria]
    for heading, entries in (("Assumptions", draft.assumptions), ("Open questions", draft.open_questions)):
        if entries:
            lines += ["", f"**{heading}**", *(f"- {entry}" for entry in entries)]
    return "\n".join(lines)
