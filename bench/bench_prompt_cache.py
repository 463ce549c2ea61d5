"""Speed and repeatability of the embedded model server's prompt cache, on the drafting prompt.

llama-server keeps each slot's last prompt and reuses the longest shared start of the next one (`cache_prompt`,
on by default). Every drafting prompt starts with the same system message and worked examples, so with the cache
only the idea itself is read. This bench sends the first N dev ideas as raw chat requests (greedy, 160 tokens, no
schema) to one server, in four passes in the same process: with the cache twice, then without it twice. The table
gives the prompt tokens the server read, the seconds, and whether the reply is the same as with the whole prompt
read (the first pass without the cache) and as the second pass with the cache.
Run: .venv/bin/python -m bench.bench_prompt_cache [--ideas 3]
"""

from __future__ import annotations

import argparse
import json
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from bench import machine, publish
from evals.__main__ import eval_llm
from pipelines.drafting import draft_prompt
from pipelines.safety import escape_tags

RESULTS = Path(__file__).parent / "results" / "bench_prompt_cache.md"
IDEAS = Path(__file__).parents[1] / "evals" / "datasets" / "story_drafting_dev.jsonl"
PASSES = (("cache", True), ("cache, again", True), ("no cache", False), ("no cache, again", False))


def ask(url: str, messages: list[dict[str, str]], cache: bool) -> dict[str, Any]:
    """One greedy reply: its text, the prompt tokens the server read, the seconds."""
    started = time.perf_counter()
    body = {"model": "local", "messages": messages, "temperature": 0, "max_tokens": 160, "cache_prompt": cache}
    reply = httpx.post(url, json=body, timeout=600).json()
    return {
        "text": reply["choices"][0]["message"]["content"],
        "read": reply.get("timings", {}).get("prompt_n"),
        "seconds": time.perf_counter() - started,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--ideas", type=int, default=3)
    args = parser.parse_args()
    samples = [json.loads(line) for line in IDEAS.read_text(encoding="utf-8").splitlines()[: args.ideas]]
    llm = eval_llm("local")
    llm.host.ensure_ready(lambda *_: None)
    url = f"{llm.host.base_url}/chat/completions"
    prompt = draft_prompt()
    messages = [prompt.messages(text=escape_tags(s["input"]["text"], "input"), context="not given") for s in samples]
    found = {(name, n): ask(url, m, cache) for name, cache in PASSES for n, m in enumerate(messages)}
    lines = [
        f"# Prompt cache: speed and repeatability of greedy drafts ({datetime.now(UTC):%F})",
        "",
        f"{machine()} Model: {llm.model}, {args.ideas} dev ideas, one server, the passes in this order.",
        "",
        "| idea | pass | prompt tokens read | seconds | ratio to no cache | same reply as: whole prompt read | "
        "second cached pass |",
        "|---|---|---|---|---|---|---|",
    ]
    for n, sample in enumerate(samples):
        base, cached = found[("no cache", n)], found[("cache, again", n)]
        for name, _ in PASSES:
            row = found[(name, n)]
            lines.append(
                f"| {sample['id']} | {name} | {row['read']} | {row['seconds']:.1f} | "
                f"{row['seconds'] / base['seconds']:.2f} | {'yes' if row['text'] == base['text'] else 'no'} | "
                f"{'yes' if row['text'] == cached['text'] else 'no'} |"
            )
    publish(lines, RESULTS)


if __name__ == "__main__":
    main()
