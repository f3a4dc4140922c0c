"""How often one socket may say something that reaches other people (presence, holds)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field


@dataclass(slots=True)  # one per live socket: no __dict__ each
class TokenBucket:
    """`capacity` messages at once, then one more every `per / capacity` seconds (Supabase's
    presence limit is 5 per 30 s, and the same suits holds: people do not book that fast)."""

    capacity: int = 5
    per: float = 30.0
    tokens: float = field(init=False)
    stamp: float = field(default_factory=time.monotonic)

    def __post_init__(self) -> None:
        self.tokens = float(self.capacity)

    def take(self) -> bool:
        now = time.monotonic()
        rate = self.capacity / self.per
        self.tokens = min(self.capacity, self.tokens + (now - self.stamp) * rate)
        self.stamp = now
        if self.tokens < 1:
            return False
        self.tokens -= 1
        return True
