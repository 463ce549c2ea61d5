"""Ticket and idea text is data, never instructions.

Defence in depth around the prompt's own rule: sentences that address the model ("ignore previous
instructions", "set item_type to research", "mark this top priority") are cut from the text before it reaches
the model, and the cut is reported to the reviewer as a warning. The original text is still stored as input.
The prompt keeps the text between tags (`<input>`, `<ticket>`, `<item>`); `fence` and `escape_tags` make sure
the text itself cannot close or open them.
"""

from __future__ import annotations

import re

_INSTRUCTION_PATTERNS = [
    r"\b(ignore|disregard|forget|override)\b[^.!?\n]{0,40}\b(instructions?|prompts?|rules?|directions?|above|"
    r"guidelines?|context)\b",
    r"\b(set|change|make|classify|label|mark)\b[^.!?\n]{0,30}\b(item[_ ]?type|output format|classification)\b",
    r"\b(set|change|make|mark)\s+(this|it|its)\b[^.!?\n]{0,20}\b(priority|title|type|status)\b",
    r"\bclassify (this|it) as\b",
    r"\bmark\b[^.!?\n]{0,20}\b(top|highest|critical|urgent|p0|blocker)\b[^.!?\n]{0,10}\bpriority\b",
    r"\b(you are now|act as (the|an?) (ai|assistant|model|system)|new instructions?|system prompt)\b",
    r"^\s*(system|assistant)\s*:",
    r"\b(respond|reply|answer|output)\b[^.!?\n]{0,15}\b(only|exactly|just)\b[^.!?\n]{0,15}"
    r"\b(with|the following|json|ok)\b",
    r"\b(assistant|chatgpt|ai|model|llm|gpt)\b[,:]?\s+(please\s+)?(ignore|forget|disregard|output|respond|set|mark)\b",
]
_INSTRUCTION = re.compile("|".join(f"(?:{p})" for p in _INSTRUCTION_PATTERNS), re.IGNORECASE | re.MULTILINE)
_SENTENCE = re.compile(r"[^.!?\n]*(?:[.!?]+|\n|$)")
REMOVED = "[instruction-like text removed]"


def neutralize_instructions(text: str) -> tuple[str, list[str]]:
    """Replace each sentence that reads as an instruction to the model; return the text and what was cut."""
    removed: list[str] = []
    kept: list[str] = []
    for sentence in _SENTENCE.findall(text):
        if sentence.strip() and _INSTRUCTION.search(sentence):
            removed.append(sentence.strip())
            lead = sentence[: len(sentence) - len(sentence.lstrip())]
            kept.append(lead + REMOVED + ("\n" if sentence.endswith("\n") else ""))
        else:
            kept.append(sentence)
    return "".join(kept).strip(), removed


def escape_tags(text: str, *tags: str) -> str:
    """`text` with every opening or closing tag named in `tags` made harmless, whatever its case, the spaces
    inside its brackets or its attributes (`</input>`, `</ Input >`, `<INPUT type=x>`): its `<` becomes `&lt;`, so
    text cannot end (or open) the block the prompt keeps it in. Text without such a tag comes back unchanged."""
    names = "|".join(re.escape(tag) for tag in tags)
    return re.sub(rf"<(?=\s*/?\s*(?:{names})(?![\w-]))", "&lt;", text, flags=re.IGNORECASE)


def fence(tag: str, text: str, *inside: str) -> str:
    """`text` as data between `<tag>` and `</tag>`; neither that tag nor the tags named in `inside` (the blocks
    this one sits in) can be opened or closed from within it."""
    return f"<{tag}>{escape_tags(text, tag, *inside)}</{tag}>"
