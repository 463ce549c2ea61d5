"""Ticket and idea text is data, never instructions.

Defence in depth around the prompt's own rule: sentences that address the model ("ignore previous
instructions", "set item_type to research", "mark this top priority", "note to the AI summarizer", the same in
French, German, Spanish, Portuguese or Italian, role-play set-ups, a reply in our own JSON keys) are cut from the
text before it reaches the model, and the cut is reported to the reviewer as a warning. Sentences are read as a
reader sees them: invisible characters (zero-width spaces and the like) are dropped from the text, and leetspeak
("1gn0r3 4ll pr3v10u5 1nstruct10ns") is read as letters when matching. Chat-template control tokens
(`<|im_start|>`, `<|eot_id|>`, `[INST]`), which the model server would read as the end of the user's turn, are cut
too, and with one that opens a turn for another role (`<|im_start|>system`) the text of that forged turn. The
original text is still stored as input.
The prompt keeps the text between tags (`<input>`, `<ticket>`, `<item>`); `fence` and `escape_tags` make sure
the text itself cannot close or open them.
"""

from __future__ import annotations

import re
import unicodedata

_INSTRUCTION_PATTERNS = [
    r"\b(ignore|disregard|forget|override)\b[^.!?\n]{0,40}\b(instructions?|prompts?|rules?|directions?|above|"
    r"guidelines?|context)\b",
    r"\b(set|change|make|classify|label|mark)\b[^.!?\n]{0,30}\b(item[_ ]?type|output format|classification)\b",
    r"\b(set|change|make|mark)\s+(this|it|its)\b[^.!?\n]{0,20}\b(priority|title|type|status)\b",
    r"\bclassify (this|it) as\b",
    # "file it as research": how the writer should type the item, as an instruction
    r"\b(classify|file|categori[sz]e|label|log|tag|treat|count)\s+(this|it)\s+(as|under)\s+(an?\s+)?(bug|feature|"
    r"research|spike|tech[\s_-]?debt|story|task|epic|enhancement|improvement)\b",
    r"\bmark\b[^.!?\n]{0,20}\b(top|highest|critical|urgent|p0|blocker)\b[^.!?\n]{0,10}\bpriority\b",
    r"\b(you are now|act as (the|an?) (ai|assistant|model|system)|new instructions?|system prompt)\b",
    r"^\s*(system|assistant)\s*:",
    r"\b(respond|reply|answer|output)\b[^.!?\n]{0,15}\b(only|exactly|just)\b[^.!?\n]{0,15}"
    r"\b(with|the following|json|ok)\b",
    r"\b(assistant|chatgpt|ai|model|llm|gpt)\b[,:]?\s+(please\s+)?(ignore|forget|disregard|output|respond|set|mark)\b",
    # "ignore the previous instructions" in French, German, Spanish, Portuguese and Italian
    r"\b(ignor\w*|oubli\w*|vergiss\w*|olvid\w*|esque[cç]\w*|dimentic\w*)\b[^.!?\n]{0,40}\b(instructions?|consignes?|"
    r"r[eè]gles?|anweisung\w*|regeln|vorgaben|instrucc\w*|instru[cç][oõ]es|reglas|regras|istruzion\w*|regole)\b",
    # addressed to a model or a bot by its role
    r"\b(note|message|instructions?|reminder|memo|request)\s+(to|for)\s+(the\s+|any\s+|our\s+)?(ai|llm|gpt|chatgpt|"
    r"model|assistant|bot|classifier|summari[sz]er|rewriter|note-?taker)\b",
    r"\b(ai|meeting|minutes|notes?|triage|summary)[- ]?(bot|summari[sz]er|rewriter|note-?taker|classifier)\s*[:,]",
    # what the model was "configured" or "instructed" with, as if the text could tell it
    r"\byou\s+(were|are|have\s+been|'ve\s+been)\s+(configured|instructed|programmed)\b",
    r"\byour\s+(configured\s+)?(system\s+prompt|house\s+style)\b",
    # text asking to be repeated word for word in the reply
    r"\b(quote|repeat|copy)\s+(this|these|the following|my)\s+(sentence|text|line|words?|phrase|message)\b"
    r"[^.!?\n]{0,40}\bin your (answer|reply|output|response|summary)\b",
    # role-play set-ups
    r"\b(let'?s play a game|pretend (that )?(you are|you're)|from now on,? you (are|will|must)|role-?play as|"
    r"you are [\w-]*(bot|gpt)\b)",
    # a reply written in the keys of our own JSON
    r"[\"'](item_type|acceptance_criteria|open_questions|action_items|new_work)[\"']\s*:",
]
_INSTRUCTION = re.compile("|".join(f"(?:{p})" for p in _INSTRUCTION_PATTERNS), re.IGNORECASE | re.MULTILINE)
_SENTENCE = re.compile(r"[^.!?\n]*(?:[.!?]+|\n|$)")
_INVISIBLE = re.compile("[\u00ad\u180e\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u206f\ufeff]")
_CONTROL_TOKEN = re.compile(
    r"<\|[\w .-]{1,40}\|>(?:[ \t]*(?:system|user|assistant|developer|tool)\b)?|\[/?INST\]|<</?SYS>>", re.IGNORECASE
)
# A control token that opens a turn for another role (`<|im_start|>system`, `<|start_header_id|>assistant`,
# `<<SYS>>`): what follows it, up to the next control token, is a forged turn, never something a person wrote.
_FORGED_TURN = re.compile(
    r"(?:<\|[\w .-]{1,40}\|>[ \t]*(?:system|assistant|developer|tool)\b|<<SYS>>)(?:<\|end_header_id\|>)?"
    r".*?(?=<\|[\w .-]{1,40}\|>|\[/?INST\]|<</?SYS>>|\Z)",
    re.IGNORECASE | re.DOTALL,
)
_LEET_WORD = re.compile(r"\b(?=\w*[^\W\d_])(?=\w*\d)\w+\b")  # a word of letters and digits: "1gn0r3", "4ll"
_LEET = str.maketrans("0134578", "oieastb")
REMOVED = "[instruction-like text removed]"


def _as_read(sentence: str) -> str:
    """The sentence as a reader takes it: compatibility forms folded (NFKC), digits inside words read as letters."""
    folded = unicodedata.normalize("NFKC", sentence)
    return _LEET_WORD.sub(lambda word: word[0].translate(_LEET), folded)


def neutralize_instructions(text: str) -> tuple[str, list[str]]:
    """Replace each sentence that reads as an instruction to the model, each turn forged with chat-template control
    tokens (the token and what follows it up to the next one) and each control token; drop invisible characters;
    return the text and what was cut."""
    text = _INVISIBLE.sub("", text)
    removed: list[str] = [" ".join(turn.split()) for turn in _FORGED_TURN.findall(text)]
    if removed:
        text = _FORGED_TURN.sub(f" {REMOVED} ", text)
    removed += [token.strip() for token in _CONTROL_TOKEN.findall(text)]
    if removed:
        text = _CONTROL_TOKEN.sub(" ", text)
    kept: list[str] = []
    for sentence in _SENTENCE.findall(text):
        if sentence.strip() and (_INSTRUCTION.search(sentence) or _INSTRUCTION.search(_as_read(sentence))):
            removed.append(sentence.strip())
            lead = sentence[: len(sentence) - len(sentence.lstrip())]
            kept.append(lead + REMOVED + ("\n" if sentence.endswith("\n") else ""))
        else:
            kept.append(sentence)
    return "".join(kept).strip(), removed


_ROLE_NAME = re.compile(
    r"^[\W_]*(system|assistant|developer|tool|function|ai|bot|model|llm|gpt|chatgpt|instructions?)"
    r"([\W_]*(prompt|message|note|bot|ai))?[\W_]*$",
    re.IGNORECASE,
)
UNNAMED = "Speaker"


def screen_speaker(name: str) -> tuple[str, list[str]]:
    """A speaker's name as the model may see it: one that reads as a chat role ("SYSTEM", "assistant"), carries a
    control token or an instruction becomes "Speaker", so no line can pass itself off as the system; what was cut."""
    cleaned, cut = neutralize_instructions(name)
    if cut or _ROLE_NAME.match(_as_read(cleaned)):
        return UNNAMED, [f"speaker name {name.strip()!r}"]
    return cleaned, []


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
