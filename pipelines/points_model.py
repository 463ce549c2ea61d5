"""A team's own story-point model: the embedding model (all-MiniLM-L6-v2) fine-tuned on the items the team already
estimated, to predict their log points (absolute error, so it aims at the median), joined to the rule's estimate
(`pipelines.estimate`) by the geometric mean of the two.

Chosen on dev (each project's training rows as history, its validation rows estimated; README): the rule with the
team's words, joined so, beat the Median baseline on 13 of 14 projects (MAE / median MAE 0.924), against 12 (0.951)
for the rule with the words alone; the model alone beat it on 7. Training stops after `EPOCHS` passes of a schedule
planned for `SCHEDULE_EPOCHS` (the learning rate warms up over the first tenth, then falls linearly): the best stop
of six on dev.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from pipelines.embeddings import DEFAULT_EMBEDDING_MODEL, resolve_model_path
from pipelines.estimate import snap

MIN_ITEMS = 200  # as the team's words (`WORDS_MIN_ITEMS`): the eval's smallest history is 211 items
EPOCHS = 2
SCHEDULE_EPOCHS = 6
LEARNING_RATE = 5e-5  # the encoder's; the head's is HEAD_LEARNING_RATE
HEAD_LEARNING_RATE = 1e-3
BATCH = 16
MAX_TOKENS = 128
WEIGHTS = "points-model.pt"


def joined(rule_points: float, model_points: float) -> int:
    """The rule's estimate and the model's, joined: their geometric mean, snapped to the scale."""
    return snap(math.sqrt(max(rule_points, 0.5) * max(model_points, 0.5)))


def _network(encoder: Any, centre: float) -> Any:
    """The encoder, mean pooling over its tokens, and one linear output (log points), started at `centre`."""
    from torch import nn

    class PointsNetwork(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.encoder = encoder
            self.out = nn.Linear(encoder.config.hidden_size, 1)
            nn.init.zeros_(self.out.weight)
            nn.init.constant_(self.out.bias, centre)

        def forward(self, ids: Any, mask: Any) -> Any:
            hidden = self.encoder(input_ids=ids, attention_mask=mask).last_hidden_state
            pooled = (hidden * mask.unsqueeze(-1)).sum(1) / mask.sum(1, keepdim=True).clamp(min=1)
            return self.out(pooled).squeeze(-1)

    return PointsNetwork()


class PointsModel:
    """The fine-tuned model of one team (`fit`), its predictions (`predict`), kept in a folder (`save`, `load`)."""

    def __init__(self, network: Any, tokenizer: Any, size: int) -> None:
        self._network = network
        self._tokenizer = tokenizer
        self.size = size  # how many estimated items it learned from

    @classmethod
    def _parts(cls, model: str, centre: float) -> tuple[Any, Any]:
        from transformers import AutoModel, AutoTokenizer

        folder = str(resolve_model_path(model))
        return _network(AutoModel.from_pretrained(folder), centre), AutoTokenizer.from_pretrained(folder)

    @classmethod
    def fit(
        cls,
        texts: list[str],
        points: list[float],
        model: str = DEFAULT_EMBEDDING_MODEL,
        epochs: int = EPOCHS,
        progress: Callable[[int, int], None] | None = None,
        after_epoch: Callable[[int, PointsModel], None] | None = None,
    ) -> PointsModel:
        """Fine-tune on `texts` (`pipelines.words.item_words`, what the team's words read too) and their points
        (> 0); `progress(steps done, steps)`; `after_epoch(passes done, the model so far)` (for a sweep). Seeded, so
        the same items on the same machine give the same model."""
        import torch

        torch.manual_seed(0)  # dropout; the order of the items has its own generator
        network, tokenizer = cls._parts(model, float(np.log(np.median(points))))
        target = torch.tensor(np.log(np.asarray(points, dtype=float)), dtype=torch.float32)
        encoded = tokenizer(texts, truncation=True, max_length=MAX_TOKENS, padding=True, return_tensors="pt")
        batches = math.ceil(len(texts) / BATCH)
        planned = SCHEDULE_EPOCHS * batches
        optimiser = torch.optim.AdamW(
            [
                {"params": network.encoder.parameters(), "lr": LEARNING_RATE},
                {"params": network.out.parameters(), "lr": HEAD_LEARNING_RATE},
            ],
            weight_decay=0.01,
        )
        warmup = max(1, planned // 10)
        schedule = torch.optim.lr_scheduler.LambdaLR(
            optimiser, lambda step: min(1.0, (step + 1) / warmup) * max(0.0, (planned - step) / planned)
        )
        order_seed = torch.Generator().manual_seed(0)
        network.train()
        for epoch in range(epochs):
            order = torch.randperm(len(texts), generator=order_seed)
            for n, start in enumerate(range(0, len(texts), BATCH)):
                pick = order[start : start + BATCH]
                loss = (network(encoded["input_ids"][pick], encoded["attention_mask"][pick]) - target[pick]).abs()
                optimiser.zero_grad()
                loss.mean().backward()
                torch.nn.utils.clip_grad_norm_(network.parameters(), 1.0)
                optimiser.step()
                schedule.step()
                if progress:
                    progress(epoch * batches + n + 1, epochs * batches)
            if after_epoch:
                network.eval()
                after_epoch(epoch + 1, cls(network, tokenizer, len(texts)))
                network.train()
        network.eval()
        return cls(network, tokenizer, len(texts))

    def predict(self, texts: list[str]) -> list[float]:
        """Points (unsnapped) for each of `texts`."""
        import torch

        out: list[float] = []
        with torch.no_grad():
            for start in range(0, len(texts), 64):
                encoded = self._tokenizer(
                    texts[start : start + 64], truncation=True, max_length=MAX_TOKENS, padding=True, return_tensors="pt"
                )
                out += [float(math.exp(v)) for v in self._network(encoded["input_ids"], encoded["attention_mask"])]
        return out

    def save(self, folder: Path) -> None:
        import torch

        folder.mkdir(parents=True, exist_ok=True)
        torch.save({"state": self._network.state_dict(), "size": self.size}, folder / WEIGHTS)

    @classmethod
    def load(cls, folder: Path, model: str = DEFAULT_EMBEDDING_MODEL) -> PointsModel:
        import torch

        saved = torch.load(folder / WEIGHTS, map_location="cpu", weights_only=True)
        network, tokenizer = cls._parts(model, 0.0)
        network.load_state_dict(saved["state"])
        network.eval()
        return cls(network, tokenizer, int(saved["size"]))
