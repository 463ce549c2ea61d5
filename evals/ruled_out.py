"""How often `pipelines.conversation.ruled_out` flags a decision, without running the model: on the decisions a
stored meetings report extracted (each printed with the lines that rule it out, to check by hand), and on the
reference decisions of the same meetings, which are final by construction, so a flag there is a false alarm (the
whole meeting is searched for them: an upper bound). Run: python -m evals.ruled_out dev|test REPORT
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from evals.suites.meetings import load, sentences
from pipelines.conversation import Decision, TurnQuote, ruled_out


def main(split: str, report: str) -> None:
    meetings = {m["meeting"]: m for m in load(split)}
    extracted = flagged = 0
    for sample in json.loads(Path(report).read_text(encoding="utf-8"))["samples"]:
        turns = meetings[sample["meeting"]]["turns"]
        for found in sample["ours"]["decisions"]:
            quotes = [TurnQuote(turn=q["turn"], text=q["text"]) for q in found["quotes"]]
            lines = ruled_out(Decision(decision=found["decision"], quotes=quotes), turns)
            extracted, flagged = extracted + 1, flagged + bool(lines)
            print("FLAG" if lines else "    ", found["decision"], [(q.turn, q.text[:120]) for q in lines])
    references = alarms = 0
    for meeting in meetings.values():
        for sentence in (s for answer in meeting["references"] for s in sentences(answer)):
            decision = Decision(decision=sentence[:300], quotes=[TurnQuote(turn=0, text="the whole meeting")])
            references, alarms = references + 1, alarms + bool(ruled_out(decision, meeting["turns"]))
    print(f"{flagged} of {extracted} extracted decisions flagged; {alarms} of {references} reference decision "
          "sentences flagged (false alarms, the whole meeting searched)")  # fmt: skip


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
