"""How often one client may start model work (drafts, regenerations, refinement, sprint plans): a moving window of
`REFINERY_MODEL_RATE_PER_MINUTE` requests per client address (the `limits` library), answered 429 with Retry-After."""

from __future__ import annotations

import math
import time

from fastapi import Depends, HTTPException, Request
from limits import RateLimitItemPerMinute
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter


class ModelRateLimit:
    def __init__(self, per_minute: int) -> None:
        self.item = RateLimitItemPerMinute(per_minute) if per_minute > 0 else None
        self.limiter = MovingWindowRateLimiter(MemoryStorage())

    def check(self, client: str) -> None:
        """Count one request from `client`; HTTPException 429 with Retry-After when it is over the limit."""
        if self.item is None or self.limiter.hit(self.item, "model", client):
            return
        reset_at, _ = self.limiter.get_window_stats(self.item, "model", client)
        wait = max(1, math.ceil(reset_at - time.time()))
        raise HTTPException(
            status_code=429,
            detail=f"at most {self.item.amount} model requests a minute from one client "
            f"(REFINERY_MODEL_RATE_PER_MINUTE); try again in {wait} s",
            headers={"Retry-After": str(wait)},
        )


def limit_model_calls(request: Request) -> None:
    """A dependency for routes that start model work; the app's `model_rate_limit` (if any) decides."""
    limit: ModelRateLimit | None = getattr(request.app.state, "model_rate_limit", None)
    if limit is not None:
        limit.check(request.client.host if request.client else "unknown")


ModelCallLimit = Depends(limit_model_calls)
