"""Quality check of a backlog item against named criteria, after Lucassen et al.'s Quality User Story framework
plus what a sprint needs. Deterministic and cheap: every rule names the criterion, the exact span of the item's
text at fault (when there is one), why, and a concrete fix. Rules are tuned to stay quiet on a clear item (a false
alarm costs a reviewer's trust); `evals/suites/quality.py` measures both. Duplicates and conflicts need the
vector store, so the service adds those findings (`duplicate`).
"""

from __future__ import annotations

import re
from typing import Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, field_validator

from pipelines.llm import LLM, StructuredResult
from pipelines.models import ItemType, ShortText
from pipelines.safety import escape_tags
from prompts import load_prompt

Criterion = Literal["well_formed", "atomic", "minimal", "unambiguous", "testable", "estimable", "duplicate"]
CRITERIA: tuple[str, ...] = get_args(Criterion)
MAX_POINTS = 8  # more than this does not fit a sprint: split it
MAX_CRITERIA = 8

VAGUE = (
    "fast", "quick", "quickly", "easy", "easily", "user-friendly", "user friendly", "intuitive", "simple", "simply",
    "efficient", "efficiently", "flexible", "robust", "seamless", "seamlessly", "appropriate", "appropriately",
    "adequate", "etc", "and so on", "as needed", "as appropriate", "if possible", "some", "several", "various",
    "many", "a lot", "better", "nice", "good", "properly", "correctly", "optimal", "optimized", "improved",
    "reasonable", "normal", "sufficient", "minimal", "maximal", "state-of-the-art", "modern",
)  # fmt: skip
FIXED_PAIRS = (
    "drag and drop", "terms and conditions", "copy and paste", "cut and paste", "pros and cons", "black and white",
    "search and replace", "find and replace", "up and running", "read and write", "sign in and out", "log in and out",
    "import and export", "rock and roll", "q and a", "r and d", "and/or", "and so on", "and so forth",
    "on and off", "back and forth", "up and down", "in and out", "over and over", "again and again",
    "more and more", "trial and error", "each and every", "date and time", "first and last name",
)  # fmt: skip

_VAGUE_RE = re.compile(
    r"(?<![\w-])(" + "|".join(re.escape(w) for w in sorted(VAGUE, key=len, reverse=True)) + r")(?![\w-])", re.I
)
_STORY_RE = re.compile(
    r"\bas\s+(?:(?:an?|the)\s+(?P<persona>[^,\n]{1,80}?)|(?P<named>(?-i:[A-Z][\w'-]+)))\s*"  # "As Patrick, I want"
    r"(?:,\s*(?:[^\n,]{1,80}?,?\s+)??|)"  # a clause before the goal: "As a user, after a sprint ends, I want ..."
    r"I\s*(?:['’]m|\s+am)?\s*(?:(?:only|also|just|really|often|always|sometimes)\s+)?"
    r"(?P<verb>(?:do\s+not\s+|don['’]t\s+)?(?:want|need)(?:\s+to)?|(?:would|['’]d)\s+(?:like|love|want)(?:\s+to)?|"
    r"can|should\s+be\s+able\s+to|able\s+to|expect(?:\s+that)?|wish(?:\s+to)?)\s+"
    r"(?P<goal>[^\n]+?)(?:\s*,?\s*(?:so\s+that|in\s+order\s+to|so(?=\s+(?:I|we|you|they)\s+(?:can|could|will|would|"
    r"don['’]t|do\s+not|won['’]t|no\s+longer)\b))\s+(?P<benefit>[^\n]+?))?\s*(?:\.(?:\s|$)|\n|$)",
    re.I,
)  # the verbs and benefit markers real Jira stories use ("I'd like", "so I can", "in order to"): README, quality
_STEPS_RE = re.compile(r"steps\s+to\s+reproduce|\bsteps\b\s*:|\breproduce\b|^\s*1[.)]\s", re.I | re.M)
_EXPECTED_RE = re.compile(r"\bexpected\b|\bshould\b", re.I)
_ACTUAL_RE = re.compile(r"\bactual(?:ly)?\b|\binstead\b|\bbut\b|\bfails?\b|\berror\b|\bcrash", re.I)
_CONJUNCTION_RE = re.compile(r"\s(and|&|as well as|plus|also)\s", re.I)
# A title written as a task ("Rename X to Y and add Z"): an action with its own object, then a second action. The
# second verb comes from verbs that are rarely nouns ("and report", "and use", "and search history" are not
# actions); "Build and test X" (one object for both) is one piece of work. Tuned on the titles of the estimate eval's
# dev rows, precision checked by hand on its test rows (README, quality).
TASK_VERBS = (
    "add", "allow", "archive", "build", "change", "check", "clean", "create", "delete", "deploy", "disable",
    "display", "document", "download", "edit", "enable", "export", "expose", "fix", "generate", "hide", "implement",
    "import", "improve", "include", "install", "integrate", "introduce", "make", "merge", "migrate", "move",
    "provide", "refactor", "remove", "rename", "replace", "rewrite", "send", "set", "show", "store", "support",
    "switch", "update", "upgrade", "upload", "use", "validate", "verify", "write", "convert", "unify",
)  # fmt: skip
PARTICLES = ("up", "out", "off", "down", "in", "on", "over", "back")
SECOND_TASK_VERBS = (
    "add", "allow", "clean", "convert", "create", "delete", "deploy", "disable", "enable", "expose", "fix",
    "generate", "hide", "implement", "improve", "install", "integrate", "introduce", "make", "migrate", "move",
    "provide", "refactor", "remove", "rename", "replace", "rewrite", "send", "show", "unify", "update", "upgrade",
    "validate", "verify", "write",
)  # fmt: skip
_TASK_RE = re.compile(
    r"^\W*(?:\[[^\]]*\]\s*)?(?:" + "|".join(TASK_VERBS) + r")\s+(?P<object>\S.*?)[\s,]+"
    r"(?P<conjunction>and|&|as well as)\s+(?:also\s+)?(?P<second>(?:" + "|".join(SECOND_TASK_VERBS) + r")\s+\S.*)$",
    re.I,
)
_WORD_RE = re.compile(r"[A-Za-z][A-Za-z'-]*")


class Finding(BaseModel):
    """One thing wrong with an item, against one criterion."""

    criterion: Criterion
    span: str | None = Field(description="The exact text at fault, as written in the item; null when nothing is.")
    why: str
    fix: str


class Readiness(BaseModel):
    """What a team counts as ready for a sprint (its Definition of Ready): the criteria it checks, and the most
    points an item may have before it is too large (more must be split)."""

    model_config = ConfigDict(extra="forbid")

    criteria: list[Criterion] = Field(
        default_factory=lambda: list(CRITERIA), description="The criteria checked; the others find nothing."
    )
    max_points: int = Field(MAX_POINTS, ge=1, le=100, description="More points than this do not fit a sprint.")

    @field_validator("criteria")
    @classmethod
    def _in_order(cls, criteria: list[Criterion]) -> list[Criterion]:
        return [c for c in CRITERIA if c in criteria]  # type: ignore[misc]

    def keep(self, found: list[Finding]) -> list[Finding]:
        """The findings on the criteria checked."""
        return [f for f in found if f.criterion in self.criteria]


class Statement(BaseModel):
    """The parts of a 'As a <persona>, I want <goal>, so that <benefit>' sentence, as written."""

    text: str
    persona: str
    goal: str
    benefit: str | None


def story_statement(text: str) -> Statement | None:
    """The first user-story sentence in `text`, if there is one."""
    found = _STORY_RE.search(text)
    if found is None:
        return None
    benefit = found["benefit"].strip() if found["benefit"] else None
    return Statement(
        text=found[0].strip(),
        persona=(found["persona"] or found["named"]).strip(),
        goal=found["goal"].strip(),
        benefit=benefit,
    )


def _masked(text: str) -> str:
    """`text` with fixed pairs ("drag and drop") blanked out, same length, so their 'and' is not a second goal."""
    for pair in FIXED_PAIRS:
        text = re.sub(re.escape(pair), lambda m: "_" * len(m[0]), text, flags=re.I)
    return text


def _adverbs(text: str, conjunction: re.Match[str]) -> bool:
    """Whether the conjunction joins two adverbs ("quickly and easily"): one action done two ways, not two goals."""
    before = re.findall(r"[A-Za-z]+", text[: conjunction.start()])[-1:]
    after = re.findall(r"[A-Za-z]+", text[conjunction.end() :])[:1]
    return bool(before and after) and all(w.lower().endswith("ly") and len(w) > 4 for w in before + after)


def check_atomic(statement: Statement) -> Finding | None:
    """Two goals in one story: a conjunction joining two actions or things in the goal."""
    goal = _masked(statement.goal)
    found = next((m for m in _CONJUNCTION_RE.finditer(goal) if not _adverbs(goal, m)), None)
    if found is None:
        return None
    return Finding(
        criterion="atomic",
        span=statement.goal,
        why=f"the goal joins two things with '{found[1]}': each can be done, tested and estimated on its own",
        fix="split it into one story per goal (one 'I want' each), or keep one and move the other to a new item",
    )


def check_atomic_title(title: str) -> Finding | None:
    """Two tasks in a title written as a task ("Remove X and update the docs"), for an item with no story sentence."""
    found = _TASK_RE.search(_masked(title.strip()))
    if found is None or found["object"].lower() in PARTICLES:  # "Set up and install X": one task, a phrasal verb
        return None
    second = title.strip()[found.start("second") :]
    return Finding(
        criterion="atomic",
        span=second,
        why=f"the title joins a second task with '{found['conjunction']}': each can be done, tested and estimated "
        "on its own",
        fix=f"move '{second}' to an item of its own (or make this one an epic with a child per task)",
    )


def check_minimal(statement: Statement) -> Finding | None:
    """Notes or solution detail inside the story sentence: brackets, 'e.g.', 'i.e.', a 'note'."""
    found = re.search(r"\([^)]*\)|\[[^\]]*\]|\b(?:e\.g\.|i\.e\.|note:)[^,.;]*", statement.text, re.I)
    if found is None:
        return None
    return Finding(
        criterion="minimal",
        span=found[0],
        why="the story sentence carries a note or solution detail besides who, what and why",
        fix="keep the sentence to persona, goal and benefit; move the detail to the description or a criterion",
    )


def check_vague(text: str) -> list[Finding]:
    """Vague words a tester cannot check ('fast', 'user-friendly', 'etc.'), each once."""
    findings, seen = [], set()
    for found in _VAGUE_RE.finditer(text):
        word = found[0]
        if word.lower() in seen:
            continue
        seen.add(word.lower())
        findings.append(
            Finding(
                criterion="unambiguous",
                span=word,
                why=f"'{word}' means different things to different readers and cannot be tested",
                fix=f"replace '{word}' with a measurable condition (a number, a limit, a named list)",
            )
        )
    return findings


_REFERENT_RE = re.compile(
    r"\b(?:the|a|an|each|every|any|all|some|our|his|her|my|your|this|that|these|those|its|their)\s+"
    r"(?:[a-z][\w-]*\s+)?([a-z][\w-]*)|\b([A-Z][a-z]+s?)\b"
)
SINGULAR = ("it", "its", "itself")
PLURAL = ("they", "them", "their", "themselves")


def pronoun_is_unclear(sentence: str, pronoun_at: int) -> bool:
    """Whether the pronoun at `pronoun_at` ("it", "their", ...) has two or more candidate referents before it in
    its sentence that agree with it in number (noun phrases after an article or determiner, and capitalised
    names). A rule, not a parser: chosen on ReqEval's training set for precision (a false alarm costs trust);
    `evals/suites/quality.py` reports it against calling every pronoun ambiguous."""
    words = sentence[pronoun_at:].split()
    pronoun = words[0].lower().strip(".,;:)") if words else ""
    if pronoun not in SINGULAR + PLURAL:
        return False
    nouns = [a or b for a, b in _REFERENT_RE.findall(sentence[:pronoun_at])]
    plural = [n for n in nouns if n.endswith("s") and not n.endswith("ss")]
    agreeing = plural if pronoun in PLURAL else [n for n in nouns if n not in plural]
    return len(agreeing) >= 2


def check_pronouns(statement: Statement) -> Finding | None:
    """A pronoun in the goal or benefit whose referent is unclear: two things it could stand for before it."""
    sentence = statement.text
    for found in re.finditer(r"\b(" + "|".join(SINGULAR + PLURAL) + r")\b", sentence, re.I):
        if pronoun_is_unclear(sentence, found.start()):
            return Finding(
                criterion="unambiguous",
                span=found[0],
                why=f"'{found[0]}' could refer to more than one thing mentioned before it",
                fix=f"name what '{found[0]}' stands for",
            )
    return None


def check_well_formed(text: str, item_type: ItemType, statement: Statement | None) -> list[Finding]:
    if item_type == "bug":
        missing = [
            name
            for name, pattern in (
                ("steps to reproduce", _STEPS_RE),
                ("expected result", _EXPECTED_RE),
                ("actual result", _ACTUAL_RE),
            )
            if not pattern.search(text)
        ]
        if not missing:
            return []
        return [
            Finding(
                criterion="well_formed",
                span=None,
                why=f"a bug report needs steps, expected and actual result; missing: {', '.join(missing)}",
                fix="add " + ", ".join(missing) + " so anyone can reproduce it and tell when it is fixed",
            )
        ]
    if item_type != "feature":
        return []
    if statement is None:
        return [
            Finding(
                criterion="well_formed",
                span=None,
                why="no persona and goal: it does not say who wants what",
                fix="state it as 'As a <who>, I want <what>, so that <why>'",
            )
        ]
    if statement.benefit is None:
        return [
            Finding(
                criterion="well_formed",
                span=statement.text,
                why="no benefit: it says who wants what but not why",
                fix="add ', so that <the value this gives the persona>'",
            )
        ]
    return []


def count_criteria(text: str) -> int:
    """Acceptance criteria written as Given/When/Then lines or a checklist."""
    gwt = len(re.findall(r"\bgiven\b", text, re.I))
    checklist = len(re.findall(r"^\s*[-*]\s*\[[ xX]?\]", text, re.M))
    return max(gwt, checklist)


def check_testable(text: str, item_type: ItemType) -> Finding | None:
    if item_type == "bug" and _EXPECTED_RE.search(text):
        return None  # the expected result is the test
    if count_criteria(text) or re.search(r"acceptance criteria|definition of done", text, re.I):
        return None
    return Finding(
        criterion="testable",
        span=None,
        why="no acceptance criteria: nobody can tell when it is done",
        fix="add 2-5 checkable criteria, e.g. 'Given <state>, when <action>, then <observable result>'",
    )


def check_estimable(text: str, title: str, points: int | None, max_points: int = MAX_POINTS) -> Finding | None:
    if points is not None and points > max_points:
        return Finding(
            criterion="estimable",
            span=None,
            why=f"{points} story points: more than {max_points} does not fit a sprint",
            fix="split it into smaller stories (workflow steps, business rules, data variations, happy/unhappy path)",
        )
    if count_criteria(text) > MAX_CRITERIA:
        return Finding(
            criterion="estimable",
            span=None,
            why=f"{count_criteria(text)} acceptance criteria: too much for one story to estimate with confidence",
            fix="split it so each story has at most 5 criteria",
        )
    if len(_WORD_RE.findall(f"{title} {text}")) < 6:
        return Finding(
            criterion="estimable",
            span=None,
            why="too little text to tell what the work is",
            fix="say what should change, for whom, and how it is checked",
        )
    return None


def check_item(
    title: str,
    description: str = "",
    item_type: ItemType = "feature",
    points: int | None = None,
    max_points: int = MAX_POINTS,
) -> list[Finding]:
    """Every finding on an item: well-formed, atomic, minimal, unambiguous, testable, estimable (in that order; more
    than `max_points` is too large). Spans are exact substrings of the title or the description."""
    text = f"{title}\n{description}".strip()
    statement = story_statement(text)
    findings = check_well_formed(text, item_type, statement)
    if statement is not None:
        findings += [f for f in (check_atomic(statement), check_minimal(statement)) if f]
    elif item_type != "bug" and (task := check_atomic_title(title)):
        findings.append(task)
    findings += check_vague(text)
    if statement is not None and (pronoun := check_pronouns(statement)):
        findings.append(pronoun)
    size = check_estimable(description, title, points, max_points)
    findings += [f for f in (check_testable(text, item_type), size) if f]
    return findings


class PronounJudgement(BaseModel):
    """The model's reading of one pronoun: what it could refer to, and whether readers could disagree."""

    candidates: list[ShortText] = Field(max_length=4, description="Noun phrases before the pronoun it could mean.")
    referent: ShortText | None = Field(description="The candidate a careful reader would pick; null if unsure.")
    ambiguous: bool


def judge_pronoun(llm: LLM, sentence: str, pronoun_at: int) -> StructuredResult[PronounJudgement]:
    """Ask the model whether the pronoun at `pronoun_at` is ambiguous (the judgement the rule cannot make)."""
    word = re.match(r"\w+", sentence[pronoun_at:])
    end = pronoun_at + (word.end() if word else 0)
    marked = f"{sentence[:pronoun_at]}<p>{sentence[pronoun_at:end]}</p>{sentence[end:]}"
    return llm.complete_structured(
        load_prompt("judge_pronoun"), PronounJudgement, sentence=escape_tags(marked, "requirement")
    )
