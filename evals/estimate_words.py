"""Story points from the embedding rule plus the words: a measurement, not yet the product's estimate.

Per project (history: train rows for `--split dev`, train + validation for `test`), the rule's weighted
comparables (the 20 most similar items by all-MiniLM-L6-v2 cosine, and the team median counted as 4 of them) are
joined by a word classifier's predicted distribution over the team's point values (TF-IDF words and word pairs,
logistic regression, C = 1), weighted `beta` times the rule's total weight; the weighted median, snapped to the
planning-poker scale, is the estimate. `beta` 0 is the rule as it is. Prints MAE per project against the Median
baseline. Run: python -m evals.estimate_words [dev|test] [beta ...]
"""

from __future__ import annotations

import sys
from statistics import median

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression

from evals.suites.estimate import FOLDER, load_project
from pipelines.embeddings import get_embedder
from pipelines.estimate import PRIOR_WEIGHT, K, snap, weighted_median


def main(split: str, betas: list[float]) -> None:
    history_splits, query_split = (("train",), "val") if split == "dev" else (("train", "val"), "test")
    embed = get_embedder().encode
    below, ratios, maes = dict.fromkeys(betas, 0), {b: [] for b in betas}, {b: [] for b in betas}
    for path in sorted(p for p in FOLDER.glob("*.csv") if p.stem != "published_mae"):
        items = load_project(path)
        history = [i for i in items if i["split"] in history_splits]
        queries = [i for i in items if i["split"] == query_split]
        points, truth = np.array([i["points"] for i in history]), np.array([i["points"] for i in queries])
        prior = median(points)
        baseline = float(np.abs(truth - prior).mean())
        similarity = embed([i["text"] for i in queries]) @ embed([i["text"] for i in history]).T
        words = TfidfVectorizer(sublinear_tf=True, min_df=2, ngram_range=(1, 2), stop_words="english")
        features = words.fit_transform([f"{i['title']} {i['text']}" for i in history])
        model = LogisticRegression(C=1.0, max_iter=3000).fit(features, points)
        said = model.predict_proba(words.transform([f"{i['title']} {i['text']}" for i in queries]))
        line = f"{path.stem:20s} median {baseline:.3f}"
        for beta in betas:
            estimates = []
            for row, probabilities in zip(similarity, said, strict=True):
                top = np.argsort(-row)[:K]
                values = [*points[top], prior, *model.classes_]
                weights = [max(float(row[i]), 1e-3) for i in top]
                total = sum(weights) * (1 + PRIOR_WEIGHT / len(weights))
                weights += [PRIOR_WEIGHT * sum(weights) / len(weights), *(beta * total * probabilities)]
                estimates.append(snap(weighted_median(values, weights)))
            mae = float(np.abs(truth - np.array(estimates)).mean())
            below[beta] += mae < baseline
            ratios[beta].append(mae / baseline)
            maes[beta].append(mae)
            line += f"  beta {beta:g}: {mae:.3f}"
        print(line, flush=True)
    for beta in betas:
        print(
            f"beta {beta:g}: below the median on {below[beta]} of {len(ratios[beta])} projects, "
            f"MAE / median MAE {np.mean(ratios[beta]):.3f}, mean MAE {np.mean(maes[beta]):.3f}"
        )


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "dev", [float(b) for b in sys.argv[2:]] or [0.0, 2.0])
