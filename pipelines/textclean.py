"""Strip what every report of a tracker shares (template headings, user agents, stack frames, markup, signatures)
so duplicate scores compare what the reports are about; and text as a word-for-word match sees it (`plain_words`,
`singular`, `content_words`)."""

from __future__ import annotations

import re

_TEMPLATE_HEADINGS = re.compile(
    r"(?im)^\s*(?:h\d\.\s*|#+\s*|\*+\s*)?"
    r"(steps to reproduc\w*|str|actual results?|expected results?|actual behaviou?r|expected behaviou?r|"
    r"reproducible|description|summary|environment|additional (?:info\w*|context)|what happened\??|"
    r"what did you expect\??|to reproduce|workaround)\s*[:\-]?\s*$"
)
_INLINE_HEADINGS = re.compile(
    r"(?i)\b(steps to reproduce|actual results?|expected results?|reproducible|additional information)\s*:"
)
_BOILERPLATE_LINES = re.compile(
    r"(?im)^\s*(user[- ]agent|build id|build identifier|firefox for android|platform|os|version|"
    r"reproducible|sent from my \w+)\s*:.*$"
)
_STACK_FRAME = re.compile(r"(?m)^\s*(at\s+[\w$.<>]+\(.*\)|\.\.\.\s*\d+\s+more|caused by:.*)\s*$", re.IGNORECASE)
_MARKUP = re.compile(r"\{(code|noformat|quote|panel|color)(:[^}]*)?\}|\[~[^\]]+\]|\|", re.IGNORECASE)
_URL = re.compile(r"https?://\S+")
_SIGN_OFF = re.compile(r"(?ims)^\s*(thanks|thank you|regards|best regards|cheers|br)\s*[,!.]?\s*\n.{0,80}\Z")
_SPACES = re.compile(r"[ \t]+")
_BLANK_LINES = re.compile(r"\n\s*\n+")
_NOT_WORD = re.compile(r"[^\w%$€£]+")


def plain_words(text: str) -> str:
    """Lower-case words separated by single spaces, punctuation dropped (%, $, €, £ kept): what must match when a
    quote or a detail is checked word for word against its source."""
    return " ".join(_NOT_WORD.sub(" ", text.lower()).split())


def singular(word: str) -> str:
    """A plural's "s" dropped from a word of four letters or more ("apis": "api"; "gas" stays)."""
    return word[:-1] if len(word) > 3 and word.endswith("s") else word


def content_words(text: str) -> set[str]:
    """The plain words that carry meaning: English stop words left out, plurals folded (`singular`)."""
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

    return {singular(w) for w in plain_words(text).split() if w not in ENGLISH_STOP_WORDS}


def clean_report(text: str) -> str:
    """The report with tracker boilerplate removed; the words that describe the problem are kept."""
    text = text.replace("\r\n", "\n")
    text = _BOILERPLATE_LINES.sub("", text)
    text = _TEMPLATE_HEADINGS.sub("", text)
    text = _INLINE_HEADINGS.sub(" ", text)
    text = _STACK_FRAME.sub("", text)
    text = _MARKUP.sub(" ", text)
    text = _URL.sub(" ", text)
    text = _SIGN_OFF.sub("", text)
    text = _SPACES.sub(" ", text)
    return _BLANK_LINES.sub("\n", text).strip()


def report_text(title: str, body: str | None, max_chars: int = 4000) -> str:
    """Title and cleaned body as one text to score; the title leads because it is the densest part."""
    body = clean_report(body or "")[:max_chars]
    return f"{title.strip()}\n{body}".strip()
