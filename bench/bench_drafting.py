"""Seconds per story and tokens/s for the embedded local model, against baselines in the same process.

Variants (all greedy, same prompt, same ideas):
  default        our compact grammar (schema without string-length bounds), REFINERY_LLM_THREADS threads
  unconstrained  no grammar at all (the cost of constraining, and how often the reply is still valid)
  threads=N      our grammar with a second thread count (a second Llama instance on the same file)

Run: .venv/bin/python -m bench.bench_drafting [--ideas 3] [--threads-alt 2]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from datetime import UTC, datetime
from pathlib import Path

from pipelines.llm import default_threads
from pipelines.local_model import get_llama, grammar_for, resolve_model
from pipelines.models import StoryDraft
from prompts import load_prompt

IDEAS = [
    ("customers keep asking to filter search by price, scrolling 400 products is painful", "Online furniture shop"),
    ("Checkout crashes with a 500 error when applying a discount code on iOS since yesterday's release", None),
    ("our CI takes 40 minutes because the integration tests run serially, devs are waiting all day", None),
    ("make onboarding better", None),
]


def one_story(llama, messages, grammar) -> dict:
    started = time.perf_counter()
    out = llama.create_chat_completion(messages=messages, grammar=grammar, max_tokens=768, temperature=0.0)
    elapsed = time.perf_counter() - started
    text = out["choices"][0]["message"]["content"]
    try:
        StoryDraft.model_validate_json(text)
        valid = True
    except ValueError:
        valid = False
    usage = out["usage"]
    return {"s": elapsed, "out": usage["completion_tokens"], "in": usage["prompt_tokens"], "valid": valid}


def run_variant(name: str, llama, grammar, ideas) -> dict:
    prompt = load_prompt("draft_story")
    rows = [
        one_story(llama, prompt.messages(text=text, context=context or "not given"), grammar) for text, context in ideas
    ]
    return {
        "variant": name,
        "calls": len(rows),
        "s_per_story": statistics.median(r["s"] for r in rows),
        "tok_per_s": statistics.median(r["out"] / r["s"] for r in rows),
        "out_tokens": statistics.mean(r["out"] for r in rows),
        "in_tokens": statistics.mean(r["in"] for r in rows),
        "valid": sum(r["valid"] for r in rows),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--ideas", type=int, default=3)
    parser.add_argument("--threads", type=int, default=default_threads())
    parser.add_argument("--threads-alt", type=int, default=2)
    parser.add_argument("--data-dir", default=os.environ.get("REFINERY_DATA_DIR", "data"))
    args = parser.parse_args()
    ideas = IDEAS[: args.ideas]
    model = resolve_model(None, Path(args.data_dir))
    schema = StoryDraft.model_json_schema()

    started = time.perf_counter()
    llama = get_llama(str(model.path), args.threads, 4096)
    load_s = time.perf_counter() - started
    prompt = load_prompt("draft_story")
    warm = one_story(
        llama, prompt.messages(text="dark mode please", context="not given"), grammar_for(json.dumps(schema))
    )

    results = [run_variant(f"default ({args.threads} thread)", llama, grammar_for(json.dumps(schema)), ideas)]
    # (llama.cpp's grammar from the full schema, maxLength bounds expanded, crashed llama-cpp-python 0.3.36 here
    # with SIGSEGV, so it is not a usable baseline.)
    results.append(run_variant(f"unconstrained ({args.threads} thread)", llama, None, ideas))
    if args.threads_alt != args.threads:
        alt = get_llama(str(model.path), args.threads_alt, 4096)
        results.append(run_variant(f"threads={args.threads_alt}", alt, grammar_for(json.dumps(schema)), ideas))

    base = results[0]["s_per_story"]
    print(
        f"# bench_drafting: {model.name}, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {platform.machine()}, "
        f"{os.cpu_count()} cores; load {load_s:.1f} s; first (cold) call {warm['s']:.1f} s"
    )
    print(
        "| variant | calls | s/story (median) | output tok/s (median) | output tokens | prompt tokens | valid "
        "| time vs default |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for r in results:
        print(
            f"| {r['variant']} | {r['calls']} | {r['s_per_story']:.1f} | {r['tok_per_s']:.1f} "
            f"| {r['out_tokens']:.0f} | {r['in_tokens']:.0f} | {r['valid']}/{r['calls']} "
            f"| {r['s_per_story'] / base:.2f}x |"
        )


if __name__ == "__main__":
    main()
