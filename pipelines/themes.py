"""Themes from customer feedback: one LLM call per group of tickets, with quotes checked against the source.

The tickets given to the model are already redacted (`pipelines.redact`); their text is data inside delimiters
it cannot close, and instruction-like sentences are cut first (`pipelines.safety`).
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import BeforeValidator, Field, StringConstraints

from pipelines.drafting import checked
from pipelines.llm import LLM, StructuredResult
from pipelines.models import StoryDraft
from pipelines.safety import fence, neutralize_instructions
from prompts import load_prompt

PROMPT_ID = "theme_story"
MAX_SHOWN = 6
MAX_TICKET_CHARS = 600

MAX_QUOTE = 400


def _shortened(text: Any) -> Any:
    """A quote longer than MAX_QUOTE, cut at its last sentence end within the limit (else its last word): the 1.5B
    model copies a whole review as a quote and, asked again, copies it again; a start of a quote still occurs in the
    ticket, where the whole one failed the draft."""
    if not isinstance(text, str) or len(said := text.strip()) <= MAX_QUOTE:
        return text
    head = said[:MAX_QUOTE]
    end = max(head.rfind(mark) for mark in (". ", "! ", "? "))
    return head[: end + 1] if end >= MAX_QUOTE // 4 else head.rsplit(None, 1)[0]


Quote = Annotated[
    str, BeforeValidator(_shortened), StringConstraints(strip_whitespace=True, min_length=3, max_length=MAX_QUOTE)
]


class ThemeStory(StoryDraft):
    """A story drafted from a theme, with the customer quotes that support it."""

    quotes: list[Quote] = Field(
        min_length=1, max_length=4, description="2 or 3 short phrases copied exactly from different tickets."
    )

    def as_story(self) -> StoryDraft:
        """The story without the quotes (they travel as evidence)."""
        return StoryDraft.model_validate(self.model_dump(exclude={"quotes"}))


def _normalise(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip().lower().strip(" \"'.,!?")


def verify_quotes(quotes: list[str], sources: list[str]) -> tuple[list[str], list[str]]:
    """Split quotes into those that occur in some source (ignoring case, spacing and surrounding quotes or
    punctuation) and those that do not."""
    haystacks = [_normalise(s) for s in sources]
    kept, dropped = [], []
    for quote in quotes:
        needle = _normalise(quote)
        (kept if needle and any(needle in h for h in haystacks) else dropped).append(quote)
    return kept, dropped


def draft_theme(llm: LLM, tickets: list[str], count: int, product: str | None = None) -> StructuredResult[ThemeStory]:
    """Draft one story for a theme from its most typical (redacted) tickets. Quotes the tickets do not contain
    are dropped and reported in `warnings`; so are instruction-like sentences cut from the tickets, criteria that test
    nothing, and numbers and names the story states that neither the tickets shown nor the product give (as for a
    drafted idea)."""
    shown, removed = [], []
    for text in tickets[:MAX_SHOWN]:
        cleaned, cut = neutralize_instructions(text)
        shown.append(cleaned)
        removed += cut
    result = llm.complete_structured(
        load_prompt(PROMPT_ID),
        ThemeStory,
        product=product or "not given",
        count=str(count),
        shown=str(len(shown)),
        tickets="\n".join(fence("ticket", t[:MAX_TICKET_CHARS], "tickets") for t in shown),
    )
    result.warnings += [f"instruction-like text was removed from a ticket: {cut!r}" for cut in removed]
    if result.value is not None:
        kept, dropped = verify_quotes(result.value.quotes, tickets)
        result.value.quotes = kept
        result.warnings += [f"quote not found in the tickets, dropped: {quote!r}" for quote in dropped]
        result.value, found = checked(result.value, *shown, product or "")  # as a drafted idea is checked
        result.warnings += found
    return result
