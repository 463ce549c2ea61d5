"""Drafting speed of the embedded model, every variant in one run on the same ideas, against today's default.

Each variant drafts the same ideas (greedy, today's draft_story prompt, the schema-constrained reply streamed)
and reports the median seconds per story, seconds to the first complete field, output tokens/s, output tokens
and how many replies validate as a StoryDraft. `batch=4` variants send four different ideas at once and report
the total output tokens/s of the batch. The model servers are started by pipelines.llm.server, as in Refinery.

Variants (`--only a,b` picks some; names as in the table):
  inprocess-1t-repack  the old default as shipped: llama-cpp-python in the API process, 1 thread (segfaults on AMX)
  inprocess-1t   the same with repacking off (the workaround), llama-cpp-python's grammar; both only when
                 llama_cpp is importable (it is no longer a dependency)
  server-1t-norepack / server-2t-norepack   the model in its own llama-server process, repacking off
  server-1t / server-2t                     llama-server built without AMX kernels, repacked weights (AVX-512/AVX2)
  server-2t-busy / server-1t-busy           the same while another process keeps one core busy
  server-2t-passive(-busy)                  OpenMP threads sleep at barriers instead of spinning
  server-2t-spinNk(-busy)                   they spin N thousand times, then sleep (libgomp's default, and the
                                            other variants': 300k; Refinery's default: 3k)
  server-2t-free                            no grammar at all (what constraining costs; replies may be invalid)
  server-2t-compact                         a compact wire schema: one- or two-letter keys, mapped back
  server-2t-draft05                         speculative decoding with the packaged 0.5B model as draft model
  server-2t-batch4-1slot / server-2t-batch4 four ideas at once on 1 slot (queued) and on 4 slots (batched)
  server-2t-spin3k-ngram-simple-3-4-<flag>  the default before huge pages (speculative lookup 3:4) with one more flag:
                                            fa-off (no flash attention), kv-q8 (8-bit KV cache), cpu-strict
                                            (threads pinned to cores), no-mmap (`--load-mode none`: weights
                                            read into memory, not mapped)
  server-2t-spin3k-ngram-simple-3-4-thp      the same, glibc's malloc asking for transparent huge pages
                                            (GLIBC_TUNABLES=glibc.malloc.hugetlb=1)
  server-2t-spin3k-ngram-simple-3-4-thp-no-mmap  both: Refinery's default today (ServerOptions.huge_pages)
  server-2t-spin3k-ngram-simple-3-4(-thp-no-mmap)-separate-head  the default before huge pages, and today's, on
                                            the packaged file as shipped, with its separate Q6_K output head (every
                                            other variant runs the tied copy, weights.tied_copy)
  <today's default>-<file>                  Refinery's default on another GGUF (`--requantized FILE ...`), e.g. the
                                            packaged Q4_K_M requantized by llama-quantize

Run: .venv/bin/python -m bench.bench_drafting [--ideas 3] [--only server-2t,server-2t-batch4]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import multiprocessing
import os
import platform
import statistics
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import openai

from pipelines.llm import wire_schema
from pipelines.llm.fields import FieldStream
from pipelines.llm.server import HUGE_PAGES_TUNABLE, ModelServer, ServerOptions
from pipelines.llm.weights import DEFAULT_MODEL, PACKAGED_MODELS, assemble, resolve_model
from pipelines.models import StoryDraft
from prompts import load_prompt

IDEAS = [
    ("customers keep asking to filter search by price, scrolling 400 products is painful", "Online furniture shop"),
    ("Checkout crashes with a 500 error when applying a discount code on iOS since yesterday's release", None),
    ("our CI takes 40 minutes because the integration tests run serially, devs are waiting all day", None),
    ("make onboarding better", None),
]
SHORT = {
    "item_type": "k", "title": "t", "persona": "p", "goal": "g", "benefit": "b", "acceptance_criteria": "c",
    "given": "gi", "when": "wh", "then": "th", "labels": "l", "assumptions": "a", "open_questions": "q",
}  # fmt: skip
LONG = {short: name for name, short in SHORT.items()}
NGRAM_SPECS = [  # (kind, n: tokens looked up, m: tokens drafted)
    *(("ngram-simple", n, m) for n, m in ((3, 4), (2, 8), (2, 3), (3, 3), (4, 4), (3, 6), (4, 3), (5, 4))),
    ("ngram-map-k", 3, 4), ("ngram-map-k", 2, 8),
]  # fmt: skip


@dataclass(frozen=True)
class Variant:
    name: str
    options: ServerOptions | None  # None: in process (llama-cpp-python)
    schema: str = "full"  # full | free | compact
    busy: bool = False
    batch: int = 1
    model: Path | None = None  # another GGUF than the packaged model (e.g. a requantization)


@dataclass
class Row:
    seconds: float
    first_field: float | None
    out_tokens: int
    valid: bool
    timed_out: bool = False


@dataclass
class Result:
    variant: Variant
    rows: list[Row] = field(default_factory=list)
    batch_tok_s: float | None = None
    note: str = ""


def rename(node: Any, names: dict[str, str]) -> Any:
    if isinstance(node, dict):
        return {names.get(key, key): rename(value, names) for key, value in node.items()}
    if isinstance(node, list):
        return [rename(item, names) for item in node]
    return node


def compact_schema() -> dict[str, Any]:
    schema = wire_schema(StoryDraft)
    for definition in [schema, *schema.get("$defs", {}).values()]:
        definition["properties"] = {SHORT.get(k, k): v for k, v in definition["properties"].items()}
        definition["required"] = [SHORT.get(k, k) for k in definition.get("required", [])]
    return schema


def messages_for(text: str, context: str | None, schema: str) -> list[dict[str, str]]:
    messages = load_prompt("draft_story").messages(text=text, context=context or "not given")
    if schema == "compact":
        for message in messages:
            if message["role"] == "assistant":
                message["content"] = json.dumps(rename(json.loads(message["content"]), SHORT), ensure_ascii=False)
    return messages


def response_format(schema: str) -> dict[str, Any] | None:
    if schema == "free":
        return None
    body = compact_schema() if schema == "compact" else wire_schema(StoryDraft)
    return {"type": "json_schema", "json_schema": {"name": "StoryDraft", "schema": body}}


def validates(text: str, schema: str) -> bool:
    try:
        data = json.loads(text)
        StoryDraft.model_validate(rename(data, LONG) if schema == "compact" else data)
        return True
    except ValueError:
        return False


STORY_TIMEOUT_S = 240.0


def server_story(client: openai.OpenAI, text: str, context: str | None, schema: str) -> Row:
    fields = FieldStream()
    started = time.perf_counter()
    first = None
    out = ""
    tokens = 0
    extra = {"response_format": response_format(schema)} if schema != "free" else {}
    stream = client.chat.completions.create(
        model="local", messages=messages_for(text, context, schema), temperature=0, max_tokens=768, stream=True,
        stream_options={"include_usage": True}, **extra,
    )  # fmt: skip
    for chunk in stream:
        if time.perf_counter() - started > STORY_TIMEOUT_S:
            stream.close()
            return Row(time.perf_counter() - started, first, len(out) // 4, False, timed_out=True)
        if chunk.usage:
            tokens = chunk.usage.completion_tokens
        delta = chunk.choices[0].delta.content if chunk.choices else None
        if delta:
            out += delta
            if first is None and fields.feed(delta):
                first = time.perf_counter() - started
    return Row(time.perf_counter() - started, first, tokens, validates(out, schema))


def inprocess_story(llama: Any, grammar: Any, text: str, context: str | None) -> Row:
    fields = FieldStream()
    started = time.perf_counter()
    first = None
    out = ""
    tokens = 0
    for chunk in llama.create_chat_completion(
        messages=messages_for(text, context, "full"), grammar=grammar, max_tokens=768, temperature=0.0, stream=True
    ):
        delta = chunk["choices"][0]["delta"].get("content")
        if delta:
            out += delta
            tokens += 1
            if first is None and fields.feed(delta):
                first = time.perf_counter() - started
    return Row(time.perf_counter() - started, first, tokens, validates(out, "full"))


def inprocess_rows(model: Path, ideas: list, threads: int, repack: bool) -> list[Row]:
    import llama_cpp
    from llama_cpp import llama_cpp as low_level

    params = low_level.llama_model_default_params()
    params.use_extra_bufts = repack  # False: no repacked weights (with them it segfaults on AMX CPUs)
    original = low_level.llama_model_default_params
    low_level.llama_model_default_params = lambda: params
    try:
        llama = llama_cpp.Llama(str(model), n_ctx=4096, n_threads=threads, n_threads_batch=threads, verbose=False)
    finally:
        low_level.llama_model_default_params = original
    grammar = llama_cpp.LlamaGrammar.from_json_schema(json.dumps(wire_schema(StoryDraft)), verbose=False)
    inprocess_story(llama, grammar, "dark mode please", None)  # warm the prompt prefix
    rows = [inprocess_story(llama, grammar, text, context) for text, context in ideas]
    llama.close()
    return rows


def run_inprocess(variant: Variant, model: Path, ideas: list, threads: int, repack: bool) -> Result:
    """In a child process, so that a crash of llama.cpp is a row of the table, not the end of the bench."""
    if importlib.util.find_spec("llama_cpp") is None:
        return Result(variant, note="skipped: llama-cpp-python is not installed")
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        try:
            return Result(variant, pool.submit(inprocess_rows, model, ideas, threads, repack).result())
        except BrokenProcessPool:
            return Result(variant, note="crashed: llama.cpp killed the process (SIGSEGV) at the first decode")


def run_server(variant: Variant, model: Path, ideas: list) -> Result:
    server = ModelServer(variant.options, lambda: model)
    busy = subprocess.Popen([sys.executable, "-c", "while True: pass"]) if variant.busy else None
    try:
        server.ensure_ready()
        client = openai.OpenAI(base_url=server.base_url, api_key="local", timeout=900, max_retries=0)
        with ThreadPoolExecutor(variant.options.slots) as pool:  # warm the prompt prefix, in every slot
            list(
                pool.map(
                    lambda _: server_story(client, "dark mode please", None, variant.schema),
                    range(variant.options.slots),
                )
            )
        if variant.batch == 1:
            rows = []
            for text, context in ideas:
                rows.append(server_story(client, text, context, variant.schema))
                if rows[-1].timed_out:  # collapsed: the other ideas would take as long
                    break
            return Result(variant, rows)
        batch = (IDEAS * variant.batch)[: variant.batch]
        started = time.perf_counter()
        with ThreadPoolExecutor(variant.batch) as pool:
            rows = list(pool.map(lambda idea: server_story(client, idea[0], idea[1], variant.schema), batch))
        wall = time.perf_counter() - started
        return Result(variant, rows, batch_tok_s=sum(r.out_tokens for r in rows) / wall)
    finally:
        if busy:
            busy.kill()
        server.stop()


DEFAULT = "server-2t-spin3k-ngram-simple-3-4-thp-no-mmap"  # Refinery's model server today


def variants(args: argparse.Namespace, draft_model: Path | None) -> list[Variant]:
    # libgomp's own spin count (300,000) unless a variant says otherwise; Refinery's default is server-2t-spin3k
    plain = ServerOptions(
        binary=Path(args.binary), threads=2, repack=True, huge_pages=False, context_tokens=4096, slots=1,
        env=(("GOMP_SPINCOUNT", "300000"),),
    )  # fmt: skip
    norepack = replace(plain, repack=False)
    passive = replace(plain, env=(("OMP_WAIT_POLICY", "passive"), ("GOMP_SPINCOUNT", "0")))
    found = [
        Variant("inprocess-1t-repack", None, schema="repack"),
        Variant("inprocess-1t", None),
        Variant("server-1t-norepack", replace(norepack, threads=1)),
        Variant("server-2t-norepack", norepack),
        Variant("server-1t", replace(plain, threads=1)),
        Variant("server-2t", plain),
        Variant("server-1t-busy", replace(plain, threads=1), busy=True),
        Variant("server-2t-busy", plain, busy=True),
        Variant("server-2t-passive", passive),
        Variant("server-2t-passive-busy", passive, busy=True),
        *(
            Variant(
                f"server-2t-spin{n // 1000}k{busy}", replace(plain, env=(("GOMP_SPINCOUNT", str(n)),)), busy=bool(busy)
            )
            for n in (3_000, 30_000)
            for busy in ("", "-busy")
        ),
        Variant("server-2t-free", plain, schema="free"),
        Variant("server-2t-compact", plain, schema="compact"),
        Variant("server-2t-batch4-1slot", plain, batch=4),
        Variant("server-2t-batch4", replace(plain, slots=4), batch=4),
    ]
    if draft_model is not None:
        found.append(Variant("server-2t-draft05", replace(plain, draft_model=draft_model)))
    spin3k = replace(plain, env=(("GOMP_SPINCOUNT", "3000"),))
    for kind, n, m in NGRAM_SPECS:  # speculative decoding with drafts looked up in the context, no draft model
        found.append(Variant(f"server-2t-spin3k-{kind}-{n}-{m}", replace(spin3k, speculative=f"{kind}:{n}:{m}")))
    for kind in ("ngram-cache", "ngram-mod"):  # lookup kinds without N:M sizes, with llama-server's defaults
        found.append(Variant(f"server-2t-spin3k-{kind}", replace(spin3k, extra_args=("--spec-type", kind))))
    found.append(Variant("server-2t-spin3k-batch4", replace(spin3k, slots=4), batch=4))
    found.append(
        Variant(
            "server-2t-spin3k-ngram-simple-3-4-batch4",
            replace(spin3k, slots=4, speculative="ngram-simple:3:4"),
            batch=4,
        )
    )
    previous = replace(spin3k, speculative="ngram-simple:3:4")  # Refinery's model server before huge pages
    for name, extra in (  # server flags on top of it: attention kernels, KV cache type, thread pinning, no mmap
        ("fa-off", ("--flash-attn", "off")),
        ("kv-q8", ("--flash-attn", "on", "--cache-type-k", "q8_0", "--cache-type-v", "q8_0")),
        ("cpu-strict", ("--cpu-strict", "1")),
        ("no-mmap", ("--load-mode", "none")),
    ):
        found.append(Variant(f"server-2t-spin3k-ngram-simple-3-4-{name}", replace(previous, extra_args=extra)))
    thp = replace(previous, env=(*previous.env, ("GLIBC_TUNABLES", HUGE_PAGES_TUNABLE)))  # malloc asks for THP
    found.append(Variant("server-2t-spin3k-ngram-simple-3-4-thp", thp))
    default = replace(previous, huge_pages=True)  # Refinery's model server today: both of the above
    if getattr(args, "separate_head", None):  # on the packaged file, with its separate Q6_K output head
        found.append(Variant("server-2t-spin3k-ngram-simple-3-4-separate-head", previous, model=args.separate_head))
        found.append(Variant(f"{DEFAULT}-separate-head", default, model=args.separate_head))
    found.append(Variant(DEFAULT, default))
    for path in args.requantized:  # e.g. the packaged Q4_K_M requantized to Q4_0 by llama-quantize
        found.append(Variant(f"{DEFAULT}-{Path(path).stem}", default, model=Path(path)))
    return [v for v in found if not args.only or v.name in args.only.split(",")]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--ideas", type=int, default=3)
    parser.add_argument("--only", default="")
    parser.add_argument("--binary", default=str(Path(sys.executable).parent / "llama-server"))
    parser.add_argument("--data-dir", default=os.environ.get("REFINERY_DATA_DIR", "data"))
    parser.add_argument("--requantized", nargs="*", default=[], help="GGUF files to compare (server, 2 threads)")
    args = parser.parse_args()
    ideas = IDEAS[: args.ideas]
    data = Path(args.data_dir)
    model = resolve_model(None, data).path  # the packaged model's tied copy
    args.separate_head = assemble(PACKAGED_MODELS[DEFAULT_MODEL], data / "models")  # the file as packaged
    try:
        draft_model = resolve_model("qwen2.5-coder-0.5b", data).path
    except Exception:  # the 0.5B packages are optional
        draft_model = None
    header()
    base: list[float] = []
    for variant in variants(args, draft_model):
        print(f"... {variant.name}", file=sys.stderr, flush=True)
        if variant.options is None:
            result = run_inprocess(variant, model, ideas, threads=1, repack=variant.schema == "repack")
        else:
            result = run_server(variant, variant.model or model, ideas)
        print(row(result, base), flush=True)


def header() -> None:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())  # fmt: skip
    amx = "AMX" if "amx_int8" in Path("/proc/cpuinfo").read_text() else "no AMX"
    print(f"# bench_drafting: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {cpu} ({amx}), {os.cpu_count()} cores; "
          f"a story over {STORY_TIMEOUT_S:.0f} s ends its variant")  # fmt: skip
    print("| variant | stories | s/story (median) | first field s | output tok/s | output tokens | valid "
          "| batch tok/s (vs first) | time vs first |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|", flush=True)


def row(result: Result, base: list[float]) -> str:
    """One line of the table; the first variant with stories is the baseline (`base` keeps its s and tok/s)."""
    if not result.rows:
        return f"| {result.variant.name} | {result.note} ||||||||"
    rows = result.rows
    seconds = statistics.median(r.seconds for r in rows)
    tok_s = statistics.median(r.out_tokens / r.seconds for r in rows)
    if not base:
        base += [seconds, tok_s]
    firsts = [r.first_field for r in rows if r.first_field is not None]
    first = f"{statistics.median(firsts):.1f}" if firsts else "-"
    batch = f"{result.batch_tok_s:.1f} ({result.batch_tok_s / base[1]:.2f}x)" if result.batch_tok_s else "-"
    late = " (over the limit)" if any(r.timed_out for r in rows) else ""
    return (
        f"| {result.variant.name} | {len(rows)} | {seconds:.1f}{late} | {first} | {tok_s:.1f} "
        f"| {statistics.mean(r.out_tokens for r in rows):.0f} | {sum(r.valid for r in rows)}/{len(rows)} "
        f"| {batch} | {seconds / base[0]:.2f}x |"
    )


if __name__ == "__main__":
    main()
