"""The order in which a rater meets a study's items: shuffled per rater, reproducibly.

Items are still filled evenly (the claim takes an item with the fewest claims first); among items with
equal claims, each rater follows their own permutation. Every item carries a place in the study's
shuffle, drawn from the study's seed and what the item is (prompt and systems, not its row id, so a
copy of the study with the same seed shuffles alike); every rater carries an affine permutation of
those places, `x -> (x * a + b) mod PRIME`, drawn from the seed and the worker id. The claim
(annotation/rating/claim.py) orders by the permuted place, which both databases compute in 64 bits,
within a window of the study's shuffle that starts at the rater's own place (`b`) of the circle.
It lives with the raters, the lowest of annotation's subpackages, because joining draws a rater's
permutation and making a study draws its items' places.
"""

from __future__ import annotations

import hashlib

# A prime below 2**31: places and multipliers are below it, so `place * a + b` fits in 64 bits.
PRIME = 2**31 - 1


def _draw(*parts: object) -> bytes:
    return hashlib.sha256("\0".join(str(p) for p in parts).encode()).digest()


def item_shuffle(*, seed: int, prompt_key: str, system_a: str, system_b: str, kind: str = "item", sample: int = 0) -> int:
    """The item's place in the study's shuffle, in [0, PRIME); sample 0's place is what it was before samples."""
    parts = (seed, kind, prompt_key, system_a, system_b, *((sample,) if sample else ()))
    return int.from_bytes(_draw(*parts)[:8], "big") % PRIME


def rater_order(*, seed: int, worker_id: str) -> tuple[int, int]:
    """The rater's permutation (a, b) of the places: a in [1, PRIME), so that it is one-to-one."""
    digest = _draw(seed, "rater", worker_id)
    return 1 + int.from_bytes(digest[:8], "big") % (PRIME - 1), int.from_bytes(digest[8:16], "big") % PRIME
