import pytest
from django.core.cache import cache


@pytest.fixture(autouse=True)
def fresh_rate_limits():
    """Every test starts with no joins or votes counted against the rate limits (they live in the cache)."""
    cache.clear()
