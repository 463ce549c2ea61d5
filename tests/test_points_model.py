"""The team's story-point model (`pipelines.points_model`) on the real embedding model: it learns which words the
team gives more points, keeps what it learned through a save and load, and joins the rule's estimate."""

from __future__ import annotations

import pytest

from pipelines.points_model import PointsModel, joined
from pipelines.words import item_words

BIG = ["billing", "orders", "search", "accounts", "payments", "reports", "invoices", "users"]
SMALL = ["pricing", "help", "about", "careers", "contact", "terms", "privacy", "blog"]


@pytest.fixture(scope="module")
def fitted() -> PointsModel:
    texts = [item_words(f"Migrate the {w} database to the new cluster", "Move the data, keep it online.") for w in BIG]
    texts += [item_words(f"Fix a typo in the {w} page footer", "One word is misspelt.") for w in SMALL]
    return PointsModel.fit(texts, [13.0] * len(BIG) + [1.0] * len(SMALL), epochs=6)


def test_the_fitted_model_gives_more_points_to_items_worded_like_the_big_ones(fitted):
    big, small = fitted.predict(
        [
            item_words("Migrate the catalogue database to the new cluster", "Move the data, keep it online."),
            item_words("Fix a typo in the press page footer", "One word is misspelt."),
        ]
    )
    assert fitted.size == 16
    assert big > 7.0 > small, (big, small)  # each moved from where it started, the team median (7), toward its kind


def test_a_saved_model_predicts_as_it_did(fitted, tmp_path):
    text = [item_words("Migrate the catalogue database", "")]
    fitted.save(tmp_path / "fit")
    again = PointsModel.load(tmp_path / "fit")
    assert again.size == fitted.size
    assert again.predict(text)[0] == pytest.approx(fitted.predict(text)[0], rel=1e-5)


def test_the_rule_and_the_model_are_joined_by_their_geometric_mean_on_the_scale():
    assert joined(5, 5.0) == 5
    assert joined(13, 1.0) == 3  # sqrt(13) = 3.6
    assert joined(2, 8.4) == 5  # sqrt(16.8) = 4.1
    assert joined(1, 0.01) == 1  # a tiny prediction cannot push below the scale
