"""Drafting: a raw idea, request or bug note (plus optional product context) -> one StoryDraft."""

from __future__ import annotations

import re
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, Field

from pipelines.llm import LLM, Listener, StructuredResult
from pipelines.models import AcceptanceCriterion, ShortText, StoryDraft
from pipelines.safety import escape_tags, neutralize_instructions
from pipelines.textclean import content_words, plain_words, singular
from prompts import Example, PromptTemplate, load_prompt

PROMPT_ID = "draft_story"
MAX_TEXT_CHARS = 8_000
MAX_CONTEXT_CHARS = 2_000
TEAM_EXAMPLES = 3  # a team's latest accepted edits in the prompt; each adds ~250 tokens to a 4,096-token context


def prompt_version() -> str:
    return load_prompt(PROMPT_ID).version


def check_input(text: str, context: str | None = None) -> tuple[str, str]:
    """The stripped text and context, or ValueError saying what to fix."""
    text = text.strip()
    if not text:
        raise ValueError("text is empty: describe the idea, request or bug to draft")
    if len(text) > MAX_TEXT_CHARS:
        raise ValueError(f"text has {len(text)} characters; the limit is {MAX_TEXT_CHARS}: shorten it")
    context = (context or "").strip()
    if len(context) > MAX_CONTEXT_CHARS:
        raise ValueError(f"context has {len(context)} characters; the limit is {MAX_CONTEXT_CHARS}")
    return text, context


def team_example(text: str, context: str | None, story: dict[str, Any]) -> Example:
    """A story a team accepted after editing it, as a worked example for the prompt: its input goes in as data,
    like any input (instruction-like text removed, tags escaped)."""
    text, _ = neutralize_instructions(text.strip()[:MAX_TEXT_CHARS])
    context, _ = neutralize_instructions((context or "").strip()[:MAX_CONTEXT_CHARS])
    output = StoryDraft.model_validate(story).model_dump(mode="json")
    return Example(
        input={"text": escape_tags(text, "input"), "context": escape_tags(context, "input") or "not given"},
        output=output,
    )


TEAM_NOTE = (
    "\n- The last {n} examples are stories this team accepted after editing them: write the story the way they are"
    " written (title format, wording, labels, criteria), whatever the earlier examples do."
)
TeamExampleMode = Literal["append", "note", "replace"]


def draft_prompt(examples: list[Example] | None = None, mode: TeamExampleMode = "replace") -> PromptTemplate:
    """The drafting prompt with a team's accepted edits as the last examples (the model follows the latest turns
    most); the version says how many. `replace` (the default, best on the dev split: `python -m evals learning`)
    drops as many built-in examples as there are team examples and tells the model to write like them; `note`
    keeps the built-in ones and tells; `append` only adds the team's."""
    prompt = load_prompt(PROMPT_ID)
    if not examples:
        return prompt
    built_in = prompt.examples[len(examples) :] if mode == "replace" else prompt.examples
    system = prompt.system + (TEAM_NOTE.format(n=len(examples)) if mode != "append" else "")
    version = f"{prompt.version}+team{len(examples)}"
    return prompt.model_copy(update={"examples": [*built_in, *examples], "system": system, "version": version})


def draft_story(
    llm: LLM,
    text: str,
    context: str | None = None,
    temperature: float | None = None,
    listener: Listener | None = None,
    examples: list[Example] | None = None,
    example_mode: TeamExampleMode = "replace",
) -> StructuredResult[StoryDraft]:
    """Draft one user story from `text`. A reply that stays invalid after re-asks comes back as an error.
    `temperature` > 0 samples instead of decoding greedily (regenerating a draft); a `listener` hears each field
    of the story as soon as the model has written it; `examples` (`team_example`) show the team's own style
    (`example_mode`: see `draft_prompt`)."""
    text, context = check_input(text, context)
    text, removed = neutralize_instructions(text)
    context, removed_from_context = neutralize_instructions(context)
    result = llm.complete_structured(
        draft_prompt(examples, example_mode),
        StoryDraft,
        temperature=temperature,
        listener=listener,
        text=escape_tags(text, "input"),  # the prompt keeps both between <input> and </input>
        context=escape_tags(context, "input") or "not given",
    )
    result.warnings += [
        f"instruction-like text was removed before drafting: {cut!r}" for cut in removed + removed_from_context
    ]
    if result.value is not None:
        result.value, found = checked(result.value, text, context)
        result.warnings += found
    return result


Draft = TypeVar("Draft", bound=StoryDraft)  # a story draft or a kind of it (a theme's story): kept as it is


def checked(draft: Draft, *sources: str) -> tuple[Draft, list[str]]:
    """The draft without criteria that test nothing, and a warning for each one dropped and for each number and name
    it states that `sources` do not give (drafts, rewrites, a split's children, a theme's story)."""
    draft, dropped = without_empty_criteria(draft)
    warnings = [f"a criterion that tests nothing was dropped: {_criterion(c)!r}" for c in dropped]
    return draft, warnings + unsupported_details(draft, *sources)


def _criterion(c: AcceptanceCriterion) -> str:
    return f"given {c.given}, when {c.when}, then {c.then}"


def _key(text: str) -> str:
    return " ".join(re.findall(r"\w+", text.lower()))


def criterion_key(criterion: AcceptanceCriterion) -> tuple[str, str, str]:
    """A criterion's given, when and then as lower-case words, to compare criteria by what they say."""
    return _key(criterion.given), _key(criterion.when), _key(criterion.then)


def without_empty_criteria(draft: Draft) -> tuple[Draft, list[AcceptanceCriterion]]:
    """The draft without criteria that test nothing, and those dropped: a criterion whose outcome repeats its own
    precondition or action ("given the pipeline is faster ... then the pipeline is faster"), or that repeats an
    earlier criterion word for word. A small model pads a list this way when asked for more cases; at least two
    criteria (the schema's minimum) are always kept."""
    kept: list[AcceptanceCriterion] = []
    dropped: list[AcceptanceCriterion] = []
    seen: set[tuple[str, str, str]] = set()
    for criterion in draft.acceptance_criteria:
        given, when, then = criterion_key(criterion)
        if then in (given, when) or (given, when, then) in seen:
            dropped.append(criterion)
        else:
            kept.append(criterion)
        seen.add((given, when, then))
    if len(kept) < 2:  # too few left: keep the list as written (the reviewer sees it)
        return draft, []
    return draft.model_copy(update={"acceptance_criteria": kept}), dropped


_NUMBER = re.compile(r"(?<![\w.])\d+(?:[.,]\d+)*%?")
_NAME = re.compile(
    r"""(?x)
    (?P<ident>\w[\w-]*(?:[.@:]\w[\w-]*)+)       # a host, e-mail address or dotted name
    | ["“](?P<quoted>[^"”\n]{2,60})["”]  # a quoted label
    | (?P<word>\b[A-Za-z][\w-]*)
    """
)
_SENTENCE_END = re.compile(r"[.!?:;]\s*$")


def _numbers(text: str) -> set[str]:
    return {n.rstrip("%").replace(",", "") for n in _NUMBER.findall(text)}


def _names(text: str, headline: bool = False) -> list[str]:
    """The name-like words of `text`: hosts, e-mail addresses and dotted names, quoted labels, identifiers
    (camelCase, snake_case, letters with digits), acronyms, and capitalised words inside a sentence (not in a
    `headline`, whose words may all be capitalised). Abbreviations such as "e.g." and plain numbers are not names."""
    found = []
    for match in _NAME.finditer(text):
        if ident := match["ident"]:
            if re.search(r"[A-Za-z]", ident) and any(len(piece) > 1 for piece in re.split(r"[.@:]", ident)):
                found.append(ident)
        elif match["quoted"]:
            found.append(match["quoted"])
        else:
            word = match["word"]
            inside = match.start() > 0 and not _SENTENCE_END.search(text[: match.start()])
            capitalised = word[0].isupper() and word != "I" and inside and not headline
            identifier = re.search(r"[a-z][A-Z]|[A-Za-z]\d|\d[A-Za-z]|_", word) is not None
            if identifier or (word.isupper() and len(word) > 1) or capitalised:
                found.append(word)
    return found


def _singular_words(text: str) -> str:
    """Lower-case words with a plural "s" dropped, spaced at both ends, so names match whole words ("APIs": "api")."""
    return f" {' '.join(singular(w) for w in plain_words(text).split())} "


def _story_parts(draft: StoryDraft) -> list[str]:
    """The parts that state the story (title, persona, goal, benefit, criteria), not its assumptions or questions."""
    parts = [draft.title, draft.persona, draft.goal, draft.benefit]
    return parts + [part for c in draft.acceptance_criteria for part in (c.given, c.when, c.then)]


def unsupported_numbers(draft: StoryDraft, *sources: str) -> list[tuple[str, str]]:
    """Numbers the story states (title, goal, benefit, criteria) that neither the sources nor the draft's own
    assumptions give: (the number, the sentence it is in). A model that turns "after 20+ minutes" into "within 10
    seconds" invents a promise; the reviewer is told instead of the number passing as the customer's."""
    given = _numbers(" ".join([*sources, *draft.assumptions, *draft.open_questions]))
    found: dict[str, str] = {}  # number -> the first part it is in
    for part in _story_parts(draft):
        for number in sorted(_numbers(part) - given):
            found.setdefault(number, part)
    return list(found.items())


def unsupported_names(draft: StoryDraft, *sources: str) -> list[tuple[str, str]]:
    """Names the story states (hosts, products, identifiers, quoted labels, proper nouns) that neither the sources
    nor the draft's assumptions and questions give: (the name, the sentence it is in). The persona is the model's
    to choose and is not checked. "The link points to prod.example.io" when the input named only the staging host
    is an invented fact; the reviewer is told."""
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

    given = " ".join([*sources, *draft.assumptions, *draft.open_questions])
    given_words = _singular_words(given)
    found: dict[str, str] = {}  # name -> the first part it is in
    for n, part in enumerate(_story_parts(draft)):
        if n == 1:  # the persona
            continue
        for name in _names(part, headline=n == 0):
            words = _singular_words(name)
            if name.isupper() and name.lower() in ENGLISH_STOP_WORDS:  # "IT" is not the pronoun "it": same case
                supported = re.search(rf"\b{name}\b", given) is not None
            else:
                supported = words in given_words
            if words.strip() and not supported:
                found.setdefault(name, part)
    return list(found.items())


UNSUPPORTED = "which the input does not give"  # in every `unsupported_details` warning (evals count them by it)


def unsupported_details(draft: StoryDraft, *sources: str) -> list[str]:
    """A warning for each number and name the story states that the sources do not give."""
    numbers = [(f"states {number!r}", where) for number, where in unsupported_numbers(draft, *sources)]
    names = [(f"names {name!r}", where) for name, where in unsupported_names(draft, *sources)]
    return [
        f"the draft {what} ({where!r}), {UNSUPPORTED}: confirm it or move it to the assumptions"
        for what, where in numbers + names
    ]


class StoryDetail(BaseModel):
    """One specific detail a story states, and whether (the judge says) its input gives it."""

    detail: ShortText = Field(description="The words, copied exactly from the story.")
    kind: Literal["number", "name", "promise"]
    stated: bool = Field(description="True when the input or the story's assumptions give it; false when added.")


class InventedFacts(BaseModel):
    """A judge's reading of one draft: its specific details, each marked stated or not."""

    details: list[StoryDetail] = Field(max_length=12)


def story_for_judge(draft: StoryDraft) -> str:
    """The draft as plain lines: title, story sentence, one Given/When/Then per criterion, assumptions."""
    lines = [f"Title: {draft.title}", f"As a {draft.persona}, I want {draft.goal}, so that {draft.benefit}."]
    lines += [f"Given {c.given}, when {c.when}, then {c.then}." for c in draft.acceptance_criteria]
    return "\n".join([*lines, f"Assumptions: {'; '.join(draft.assumptions) or 'none'}"])


def judge_invented(
    llm: LLM, draft: StoryDraft, text: str, context: str | None = None
) -> tuple[list[StoryDetail], StructuredResult[InventedFacts]]:
    """The details of `draft` its input does not give, as the model judges them (an eval judge, not a step of
    drafting). Its reply is untrusted: a detail counts only when it is words of the story, the judge says the input
    does not state it, and some word of it (beyond stop words) is in neither the input nor the assumptions."""
    source = "\n".join(part for part in (context, text) if part)
    story = story_for_judge(draft)
    result = llm.complete_structured(
        load_prompt("judge_invented"),
        InventedFacts,
        text=escape_tags(source, "input", "story"),
        story=escape_tags(story, "input", "story"),
    )
    given = content_words(" ".join([source, *draft.assumptions]))
    said = _plain(story)

    def invented(detail: StoryDetail) -> bool:
        words = _plain(detail.detail)
        # every word of it in the input: said another way, not added
        return bool(words.strip()) and words in said and not content_words(detail.detail) <= given

    return [d for d in (result.value.details if result.value else []) if not d.stated and invented(d)], result


def _plain(text: str) -> str:
    return f" {plain_words(text)} "  # spaced: whole words match
