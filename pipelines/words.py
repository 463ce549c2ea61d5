"""What a team's past decisions say about an item's words: a text classifier fitted on the items the team
already decided (their priority, their story points), used to move an estimate toward the team's own habits."""

from __future__ import annotations

from collections.abc import Hashable

import numpy as np


def item_words(title: str, description: str) -> str:
    """What a word classifier reads of an item: the title twice (it weighs most), then the description's start."""
    return f"{title}\n{title}\n{description[:1000]}"


class WordClassifier:
    """TF-IDF words and word pairs (English stop words dropped, words seen at least twice) and a logistic
    regression over the team's labels. Raises ValueError when no word is left to learn from."""

    def __init__(self, texts: list[str], labels: list[Hashable], balanced: bool = False) -> None:
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.linear_model import LogisticRegression

        self.size = len(texts)
        self._vectorizer = TfidfVectorizer(sublinear_tf=True, min_df=2, ngram_range=(1, 2), stop_words="english")
        features = self._vectorizer.fit_transform(texts)
        weights = "balanced" if balanced else None
        self._model = LogisticRegression(C=1.0, class_weight=weights, max_iter=3000).fit(features, labels)
        self.classes: np.ndarray = self._model.classes_

    def probabilities(self, texts: list[str]) -> np.ndarray:
        """One row per text: the probability of each of `classes`."""
        return self._model.predict_proba(self._vectorizer.transform(texts))
