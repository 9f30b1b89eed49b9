"""Fixed-window rate limits in the Django cache: cheap enough to sit on every join and vote."""

from __future__ import annotations

import time

from django.core.cache import cache


def rate_limit_exceeded(*, scope: str, key: str, limit: int, window: int = 60) -> bool:
    """Count one hit for (scope, key) in the current window; True once the window holds more than `limit`."""
    slot = int(time.time()) // window
    name = f"rl:{scope}:{key}:{slot}"
    # add() is a no-op when the key exists, so concurrent first hits don't reset each other.
    cache.add(name, 0, timeout=window + 1)
    try:
        hits = cache.incr(name)
    except ValueError:
        # The entry expired between add() and incr(): this is the window's first hit.
        cache.set(name, 1, timeout=window + 1)
        hits = 1
    return hits > limit
