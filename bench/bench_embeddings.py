"""Embedding throughput and vector-store query latency, all measured in one process on this machine.

1. Encode throughput (texts/s) of all-MiniLM-L6-v2 at batch 32 and 64: our Embedder (sentence-transformers)
   against the same weights via plain torch (transformers AutoModel + mean pooling) and via onnxruntime (fp32
   export), on real ticket-like texts from shared/data (review texts and bug titles + descriptions). All three
   sort texts by length before batching (sentence-transformers does; it saves padding).
2. Chroma HNSW (cosine, the collection settings the service uses) at 10k and 100k items: add time, query p50/p99
   for k=10, recall@10 against exact numpy search on the same vectors, and numpy exact p50/p99.
   Vectors: real MiniLM vectors of shared-data texts, jittered (gaussian noise, renormalised) to reach N.
3. The whole duplicate search (encode query + Chroma + TF-IDF + exact rescoring) on a store of real texts.
Run: .venv/bin/python -m bench.bench_embeddings [--quick]
"""

from __future__ import annotations

import argparse
import csv
import platform
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from evals.bug_reports import DATA_DIR, load_corpus
from pipelines.duplicates import Document, DuplicateDetector
from pipelines.embeddings import get_embedder, resolve_model_path
from pipelines.vectorstore import VectorStore, open_client

RESULTS = Path(__file__).parent / "results" / "bench_embeddings.md"


def real_texts() -> list[str]:
    with open(DATA_DIR / "app_reviews" / "golden_set.csv", newline="", encoding="utf-8") as handle:
        reviews = [row.get("reviewText") or row.get("review") or "" for row in csv.DictReader(handle)]
    reports = [f"{r.title}\n{r.description[:600]}" for r in load_corpus("dev").reports]
    return [t for t in reviews if t.strip()] + reports


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(values, q))


def length_sorted(encode):  # noqa: ANN001, ANN201
    """Encode in order of length and restore the order, as sentence-transformers does (less padding)."""

    def run(self, texts: list[str], batch: int) -> np.ndarray:
        order = np.argsort([-len(t) for t in texts])
        vectors = encode(self, [texts[i] for i in order], batch)
        return vectors[np.argsort(order)]

    return run


class PlainTorch:
    """The same model with transformers + mean pooling + L2 normalisation, no sentence-transformers."""

    def __init__(self) -> None:
        from transformers import AutoModel, AutoTokenizer

        path = str(resolve_model_path("all-MiniLM-L6-v2"))
        self.tokenizer = AutoTokenizer.from_pretrained(path)
        self.model = AutoModel.from_pretrained(path).eval()

    @length_sorted
    def encode(self, texts: list[str], batch: int) -> np.ndarray:
        import torch

        out = []
        with torch.inference_mode():
            for start in range(0, len(texts), batch):
                tokens = self.tokenizer(
                    texts[start : start + batch], padding=True, truncation=True, max_length=256, return_tensors="pt"
                )
                hidden = self.model(**tokens).last_hidden_state
                mask = tokens["attention_mask"].unsqueeze(-1).float()
                pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
                out.append(torch.nn.functional.normalize(pooled, dim=1).numpy())
        return np.concatenate(out)


class Onnx:
    """fp32 ONNX export of the same weights run by onnxruntime, tokenised with the model's tokenizer.json."""

    def __init__(self, workdir: Path) -> None:
        import onnxruntime
        import torch
        from tokenizers import Tokenizer
        from transformers import AutoModel

        path = resolve_model_path("all-MiniLM-L6-v2")
        bert = AutoModel.from_pretrained(str(path)).eval()

        class Encoder(torch.nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.bert = bert

            def forward(self, input_ids, attention_mask, token_type_ids):  # noqa: ANN001, ANN202
                return self.bert(
                    input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
                ).last_hidden_state

        model = Encoder().eval()
        onnx_path = workdir / "minilm.onnx"
        dummy = torch.ones((1, 8), dtype=torch.long)
        with torch.no_grad():
            torch.onnx.export(
                model,
                (dummy, dummy, torch.zeros_like(dummy)),
                str(onnx_path),
                input_names=["input_ids", "attention_mask", "token_type_ids"],
                output_names=["last_hidden_state"],
                dynamic_axes={n: {0: "batch", 1: "seq"} for n in ("input_ids", "attention_mask", "token_type_ids")},
                opset_version=17,
                dynamo=False,
            )
        options = onnxruntime.SessionOptions()
        self.session = onnxruntime.InferenceSession(str(onnx_path), options, providers=["CPUExecutionProvider"])
        self.tokenizer = Tokenizer.from_file(str(path / "tokenizer.json"))
        self.tokenizer.enable_padding()
        self.tokenizer.enable_truncation(256)

    @length_sorted
    def encode(self, texts: list[str], batch: int) -> np.ndarray:
        out = []
        for start in range(0, len(texts), batch):
            encoded = self.tokenizer.encode_batch(texts[start : start + batch])
            ids = np.array([e.ids for e in encoded], dtype=np.int64)
            mask = np.array([e.attention_mask for e in encoded], dtype=np.int64)
            hidden = self.session.run(None, {"input_ids": ids, "attention_mask": mask, "token_type_ids": 0 * ids})[0]
            pooled = (hidden * mask[..., None]).sum(1) / np.maximum(mask.sum(1, keepdims=True), 1e-9)
            out.append(pooled / np.linalg.norm(pooled, axis=1, keepdims=True))
        return np.concatenate(out).astype(np.float32)


def bench_encode(texts: list[str], rows: list[str]) -> None:
    embedder = get_embedder()
    torch_model = PlainTorch()
    with tempfile.TemporaryDirectory() as workdir:
        onnx_model = Onnx(Path(workdir))
        paths = {
            "sentence-transformers (Embedder, used)": lambda batch: embedder._model.encode(
                texts, batch_size=batch, normalize_embeddings=True, convert_to_numpy=True
            ),
            "plain torch (transformers + mean pool)": lambda batch: torch_model.encode(texts, batch),
            "onnxruntime fp32": lambda batch: onnx_model.encode(texts, batch),
        }
        reference = paths["sentence-transformers (Embedder, used)"](32)
        baseline = {}
        for name, encode in paths.items():
            for batch in (32, 64):
                encode(batch)  # warm
                times = []
                for _ in range(2):
                    started = time.perf_counter()
                    vectors = encode(batch)
                    times.append(time.perf_counter() - started)
                rate = len(texts) / min(times)
                baseline.setdefault(batch, rate)
                agreement = float(np.min(np.sum(vectors * reference, axis=1)))
                rows.append(f"| {name} | {batch} | {rate:.0f} | {rate / baseline[batch]:.2f}x | {agreement:.4f} |")


def jittered(base: np.ndarray, n: int, rng: np.random.Generator, noise: float = 0.04) -> np.ndarray:
    picks = base[rng.integers(0, len(base), n)]
    vectors = picks + rng.normal(0, noise, picks.shape).astype(np.float32)
    return (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)


def bench_store(base: np.ndarray, sizes: list[int], rows: list[str], queries: int = 200) -> None:
    rng = np.random.default_rng(7)
    for n in sizes:
        vectors = jittered(base, n, rng)
        probes = jittered(base, queries, rng)
        with tempfile.TemporaryDirectory() as path:
            collection = open_client(Path(path)).get_or_create_collection(
                "bench", embedding_function=None, configuration={"hnsw": {"space": "cosine"}}
            )
            started = time.perf_counter()
            for start in range(0, n, 4096):
                chunk = vectors[start : start + 4096]
                collection.add(ids=[str(i) for i in range(start, start + len(chunk))], embeddings=chunk)
            add_s = time.perf_counter() - started
            chroma_ms, hits = [], []
            exact = np.argsort(-(probes @ vectors.T), axis=1)[:, :10]
            for i, probe in enumerate(probes):
                started = time.perf_counter()
                reply = collection.query(query_embeddings=probe[None, :], n_results=10, include=[])
                chroma_ms.append((time.perf_counter() - started) * 1000)
                hits.append(len({int(x) for x in reply["ids"][0]} & set(exact[i].tolist())) / 10)
            numpy_ms = []
            for probe in probes:
                started = time.perf_counter()
                scores = vectors @ probe
                np.argpartition(-scores, 10)[:10]
                numpy_ms.append((time.perf_counter() - started) * 1000)
        rows.append(
            f"| {n:,} | {add_s:.1f} | {percentile(chroma_ms, 50):.2f} / {percentile(chroma_ms, 99):.2f} | "
            f"{np.mean(hits):.3f} | {percentile(numpy_ms, 50):.2f} / {percentile(numpy_ms, 99):.2f} | "
            f"{percentile(numpy_ms, 50) / percentile(chroma_ms, 50):.2f}x |"
        )


def bench_detector(texts: list[str], rows: list[str], queries: int = 100) -> None:
    embedder = get_embedder()
    with tempfile.TemporaryDirectory() as path:
        detector = DuplicateDetector(embedder, VectorStore(open_client(Path(path)), embedder, "bench"))
        documents = [Document(id=str(i), title=t.split("\n")[0][:200], body=t) for i, t in enumerate(texts)]
        started = time.perf_counter()
        detector.add(documents)
        add_s = time.perf_counter() - started
        detector.search("warm up", "")
        latencies = []
        for text in texts[:queries]:
            started = time.perf_counter()
            detector.search(text.split("\n")[0][:200], text, k=10)
            latencies.append((time.perf_counter() - started) * 1000)
    rows.append(
        f"| {len(texts):,} | {add_s:.1f} | {len(texts) / add_s:.0f} | "
        f"{percentile(latencies, 50):.0f} / {percentile(latencies, 99):.0f} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="Small sizes, to check the script runs.")
    args = parser.parse_args()
    texts = real_texts()
    encode_texts = texts[:256] if args.quick else texts[:1024]
    sizes = [2_000] if args.quick else [10_000, 100_000]
    lines = [
        f"# bench_embeddings ({datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {platform.machine()}, "
        f"{__import__('os').cpu_count()} cores)",
        "",
        f"## Encode throughput: {len(encode_texts)} real texts (reviews, bug reports), all-MiniLM-L6-v2, CPU",
        "",
        "| path | batch | texts/s | vs sentence-transformers | min cosine to ours |",
        "|---|---|---|---|---|",
    ]
    bench_encode(encode_texts, lines)
    base = get_embedder().encode(texts[:3000])
    lines += [
        "",
        "## Chroma HNSW vs exact numpy, k=10 (jittered real MiniLM vectors)",
        "",
        "| items | add s | Chroma query p50 / p99 ms | HNSW recall@10 vs exact | numpy exact p50 / p99 ms "
        "| numpy/Chroma |",
        "|---|---|---|---|---|---|",
    ]
    bench_store(base, sizes, lines)
    lines += [
        "",
        "## Whole duplicate search (DuplicateDetector.search, k=10) on real texts",
        "",
        "| items | index s | indexed texts/s | search p50 / p99 ms |",
        "|---|---|---|---|",
    ]
    bench_detector(texts[:500] if args.quick else texts[:3000], lines)
    report = "\n".join(lines) + "\n"
    print(report)
    if not args.quick:
        RESULTS.write_text(report)


if __name__ == "__main__":
    main()
