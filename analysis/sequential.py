"""Dynamic evaluation: when a pair of systems has been compared enough.

A pair's items are judged one after another, each ending in a majority for system A, for system
B, or a tie. After every decisive item (a look) the pair's count of A wins is checked against a
group-sequential boundary of the two-sided test of "A and B win equally often". The boundary
spends the test's alpha along the way with the power family of Kim and DeMets,
alpha(t) = alpha * t ** RHO, where t is the share of the pair's items decided so far (its
information: decisive items over the pair's item count, its cap). Each look's boundary is the
widest whose chance of a first crossing under the null, exactly (the binomial walk, no normal
approximation), keeps the chance of having crossed by then within alpha(t). A pair that crosses
is settled in the direction of its lead; a pair whose every item has been judged with fewer
decisive items than items (ties) spends the rest of its alpha at that last look. Because the
chance of ever crossing is at most alpha whenever and however often one looks, the pair can stop
receiving items at once: this is valid under continuous monitoring, unlike an exact binomial
test re-run after every vote.

Family-wise over the pairs of a question: Holm's procedure made sequential (Maurer and Bretz,
2013): every pair not yet settled is tested at alpha / m, m the count of pairs not yet settled;
when one settles, the others' level rises to alpha / (m - 1) and their looks so far are checked
again at that level. Equivalently, a pair is settled when its Holm-adjusted repeated p-value is
at most alpha, where the repeated p-value is the smallest level at which its path has crossed.

`RHO` = 6 puts most of the alpha at the end: a pair the fixed design would decide at its last
item is decided at nearly the same evidence (the boundary at the cap is within an item of the
fixed-sample one), while a clear difference still stops early. bench/bench_dynamic.py shows the
trade-off (`--rho`): 3 saves 5 more points of votes but decides fewer borderline pairs the way the
full design does.

Intervals: the repeated confidence interval of Jennison and Turnbull, the set of win rates the
looks so far have not rejected at the pair's Bonferroni level alpha / pairs, in the Wilson form
with each look's critical value, intersected over the looks. It covers the win rate at every look
at once, so it is valid at whatever look the pair stopped. Point estimates of a stopped pair lean
away from one half (stopping happens when the lead is large) and are reported as such.
"""

from __future__ import annotations

import functools
import itertools
import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from statistics import NormalDist

import numpy as np

from analysis.outcomes import outcome_decided
from analysis.ranking import fit_strengths, strength_covariance

RHO = 6.0
ALPHA = 0.05
A_WINS, B_WINS, TIE = "a", "b", "tie"
# The levels a pair is tested at: log-spaced, each 2% above the one before from 1e-5 up (where
# decisions are made), coarser below. A pair is tested at the largest of them not above the level
# it is given, and its repeated p-value is the smallest it crossed: at most 2% above the exact one
# from 1e-5 up, never below (rounding up keeps it valid).
P_GRID = np.concatenate([np.geomspace(1e-10, 1e-5, 30, endpoint=False), np.geomspace(1e-5, 1.0, 582)])
DESCRIPTION = (
    "group-sequential two-sided exact binomial test per pair, on the decisive item majorities in the order the items "
    "were decided; alpha spent as alpha * t^rho (t: share of the pair's items decided); family-wise over the pairs of "
    "each question by sequential Holm (Maurer and Bretz 2013)"
)


@dataclass(frozen=True)
class Path:
    """One pair's item outcomes on one question, in the order they were decided."""

    outcomes: Sequence[str]  # A_WINS, B_WINS or TIE per decided item
    cap: int  # the pair's item count: the most items it can receive
    complete: bool = False  # every item of the pair has been decided: the last look spends all that is left

    def walk(self) -> tuple[np.ndarray, np.ndarray]:
        """(A wins so far, decisive items so far) at each decisive item."""
        decisive = [o for o in self.outcomes if o != TIE]
        wins = np.cumsum([o == A_WINS for o in decisive], dtype=np.int64)
        return wins, np.arange(1, len(decisive) + 1)


@dataclass(frozen=True)
class Settled:
    """A pair's state after the looks so far."""

    settled: bool
    direction: str | None  # A_WINS or B_WINS when settled
    look: int | None  # the decisive item at which its path first crossed the boundary it settled on
    items: int  # items decided when it crossed (ties included), or all decided so far
    level: float | None  # the alpha it was tested at when it settled

    def winner(self, names: tuple[str, str]) -> str | None:
        """The better system's name of the pair's (system_a, system_b) `names`, once settled."""
        if not self.settled:
            return None
        return names[0] if self.direction == A_WINS else names[1]


def spent(t: np.ndarray | float, alpha: np.ndarray | float) -> np.ndarray:
    """Alpha spent by information t (0..1): alpha * t^RHO."""
    return np.asarray(alpha) * np.minimum(np.asarray(t, dtype=float), 1.0) ** RHO


def boundaries(cap: int, looks: int | None = None, final: bool = False) -> np.ndarray:
    """For each level of P_GRID (rows) and look n = 1..looks (columns), the largest count k such
    that the path crosses at look n when A's wins are at most k or at least n - k; -1 where no count
    crosses. `final`: the last look spends all the level has left (the pair's items are all decided).

    A higher level never has a narrower boundary: each look's k is capped by the k of every higher
    level (capping only removes crossings, so each level's chance of ever crossing stays within it).
    Without the cap, the discreteness of the walk lets a lower level, having spent less early,
    cross at a look where a higher one does not, and Holm's shortcut needs crossings to nest.
    """
    return _boundaries(int(cap), int(cap if looks is None else looks), bool(final))


@functools.lru_cache(maxsize=256)
def _boundaries(cap: int, looks: int, final: bool) -> np.ndarray:
    if final:
        if looks >= cap:  # the design's own last look spends all that is left
            return _boundaries(cap, cap, False)
        # The looks before the last are the design's; only the last one differs.
        before = _boundaries(cap, cap, False)[:, : looks - 1]
    out = np.full((len(P_GRID), looks), -1, dtype=np.int64)
    alive = np.zeros((len(P_GRID), looks + 1))  # chance of being at w wins without having crossed
    alive[:, 0] = 1.0
    used = np.zeros(len(P_GRID))
    for n in range(1, looks + 1):
        alive[:, 1 : n + 1] = 0.5 * (alive[:, 1 : n + 1] + alive[:, :n])
        alive[:, 0] *= 0.5
        budget = P_GRID if (final and n == looks) else spent(n / cap, P_GRID)
        half = (n + 1) // 2  # counts k = 0..half-1 lie strictly below the middle
        tails = np.cumsum(alive[:, :half], axis=1) + np.cumsum(alive[:, n : n - half : -1], axis=1)
        if final and n < looks:
            k = before[:, n - 1]
        else:
            # The largest k within budget (a relative 1e-9 for rounding; tails grow with k), capped from above.
            k = (tails <= (budget - used)[:, None] * (1 + 1e-9)).sum(axis=1) - 1
            k = np.minimum.accumulate(k[::-1])[::-1]
        out[:, n - 1] = k
        hit = k >= 0
        used[hit] += tails[hit, k[hit]]
        cols = np.arange(n + 1)[None, :]
        alive[:, : n + 1][hit[:, None] & ((cols <= k[:, None]) | (cols >= n - k[:, None]))] = 0.0
    out.setflags(write=False)
    return out


def _path_boundaries(path: Path, decisive: int) -> np.ndarray:
    """The boundaries of a path's looks so far: those of the whole design while items remain, or,
    once every item is decided, with the last look spending what is left."""
    looks = min(decisive, path.cap)
    if path.complete:
        return boundaries(path.cap, looks=looks, final=True)
    return boundaries(path.cap)[:, :looks]


def look_p_values(path: Path) -> np.ndarray:
    """At each decisive look, the smallest level of P_GRID whose boundary the path crosses there (1 if none)."""
    wins, n = path.walk()
    if not len(n):
        return np.ones(0)
    k = _path_boundaries(path, len(n))
    looks = k.shape[1]
    fewer = np.minimum(wins[:looks], n[:looks] - wins[:looks])  # the trailing system's wins
    crossed = k >= fewer[None, :]  # nested: once a level crosses, every higher one does
    first = crossed.argmax(axis=0)
    return np.where(crossed.any(axis=0), P_GRID[first], 1.0)


def repeated_p(path: Path) -> float:
    """The smallest level at which the path has crossed at some look so far: a p-value valid at any look."""
    p = look_p_values(path)
    return float(p.min()) if len(p) else 1.0


def first_crossing(path: Path, level: float) -> int:
    """The first decisive look (1-based) at which the path crosses the boundary of `level`; 0 if none."""
    hits = np.nonzero(look_p_values(path) <= level * (1 + 1e-12))[0]
    return int(hits[0]) + 1 if len(hits) else 0


def holm_adjusted(p_values: Mapping[object, float]) -> dict[object, float]:
    """Holm's step-down adjustment of the pairs' repeated p-values (the sequential Holm's own p-values)."""
    order = sorted(p_values, key=lambda key: p_values[key])
    m = len(order)
    adjusted, running = {}, 0.0
    for rank, key in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p_values[key]))
        adjusted[key] = running
    return adjusted


def settle(paths: Mapping[object, Path], alpha: float = ALPHA) -> dict[object, Settled]:
    """Sequential Holm over one question's pairs: which are settled, in which direction, at which look.

    Holm's step-down on the pairs' repeated p-values: with m pairs, the smallest is compared with
    alpha / m, the next with alpha / (m - 1), and so on until one is above its level. Crossings
    nest across levels (`boundaries`), so this is the sequential procedure of Maurer and Bretz."""
    p = {key: repeated_p(path) for key, path in paths.items()}
    order = sorted(paths, key=lambda key: p[key])
    result: dict[object, Settled] = {}
    for rank, key in enumerate(order):
        level = alpha / (len(order) - rank)
        if p[key] > level * (1 + 1e-12):
            break
        result[key] = _settled(paths[key], first_crossing(paths[key], level), level)
    for key in paths:
        result.setdefault(key, Settled(False, None, None, len(paths[key].outcomes), None))
    return result


def _settled(path: Path, look: int, level: float) -> Settled:
    wins, _n = path.walk()
    direction = A_WINS if 2 * wins[look - 1] > look else B_WINS
    decisive = 0
    for items, outcome in enumerate(path.outcomes, start=1):
        decisive += outcome != TIE
        if decisive == look:
            return Settled(True, direction, look, items, level)
    raise AssertionError("a look beyond the path")


def repeated_interval(path: Path, level: float) -> tuple[float, float]:
    """The repeated confidence interval of A's win rate at `level` (the largest level of P_GRID not
    above it): Wilson intervals with each look's critical value, intersected over the looks so far.
    (0, 1) before any look can reject."""
    wins, n = path.walk()
    low, high = 0.0, 1.0
    if not len(n):
        return 0.0, 1.0
    row = max(int(np.searchsorted(P_GRID, level * (1 + 1e-12), side="right")) - 1, 0)
    k = _path_boundaries(path, len(n))[row]
    for i in np.nonzero(k >= 0)[0]:
        z = (n[i] - 2 * k[i]) / math.sqrt(n[i])  # the look's boundary on the standardized scale
        lo, hi = _wilson(int(wins[i]), int(n[i]), z)
        low, high = max(low, lo), min(high, hi)
    last = len(k) - 1
    return (float(low), float(high)) if low <= high else (float(wins[last] / n[last]),) * 2


def _wilson(wins: int, n: int, z: float) -> tuple[float, float]:
    p = wins / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return max(0.0, centre - half), min(1.0, centre + half)


def implied_orders(winners: Mapping[tuple[str, str], str]) -> dict[tuple[str, str], str]:
    """Orders that follow by transitivity from settled pairs: `winners` maps a settled pair (x, y)
    to its winner; the answer maps every pair (x, y) whose order a chain of settled pairs implies
    (x beat z, z beat y) to the implied winner. Ranking studies stop serving such pairs."""
    names = sorted({name for pair in winners for name in pair})
    index = {name: i for i, name in enumerate(names)}
    beats = np.zeros((len(names), len(names)), dtype=bool)
    for (x, y), winner in winners.items():
        loser = y if winner == x else x
        beats[index[winner], index[loser]] = True
    for k in range(len(names)):  # Warshall's transitive closure
        beats |= beats[:, k : k + 1] & beats[k : k + 1, :]
    implied = {}
    for i, x in enumerate(names):
        for j, y in enumerate(names):
            if beats[i, j] and not beats[j, i]:
                implied[(x, y)] = implied[(y, x)] = x
    return implied


@dataclass(frozen=True)
class Finished:
    """An item whose outcome can no longer change: when that happened, and its outcome per question."""

    pair: object
    item: object
    at: object  # the time of the vote that settled it (any ordered value: a datetime, an ISO string)
    outcomes: Mapping[str, str]  # question -> A_WINS, B_WINS or TIE


def outcome_final(*, tallies: Mapping[str, Counter], questions: Sequence[str], allow_tie: bool, remaining: int) -> bool:
    """Whether an item's outcome can no longer change: its last rater has voted, or no way the
    `remaining` raters could vote changes any question's majority (`outcome_decided`). `tallies`:
    each question's votes per A_WINS, B_WINS and TIE."""
    choices = (A_WINS, B_WINS, TIE) if allow_tie else (A_WINS, B_WINS)
    return remaining <= 0 or outcome_decided(tallies=tallies, questions=questions, choices=choices, remaining=remaining)


def item_finished(votes: Sequence[tuple[object, str, str]], *, pair: object, item: object, questions: Sequence[str],
                  raters: int, allow_tie: bool) -> Finished | None:
    """When an item's outcome became final, from its votes (time, question, A_WINS | B_WINS | TIE):
    the first vote after which no way the remaining raters could vote changes any question's
    majority (outcome_decided), or its last rater's vote; None while neither has happened. The
    analysis command finds the same moment from the votes CSV as the assignment code does live."""
    tallies: dict[str, Counter] = {q: Counter() for q in questions}
    times = sorted({at for at, _, _ in votes})
    by_time: dict[object, list[tuple[str, str]]] = {}
    for at, question, label in votes:
        by_time.setdefault(at, []).append((question, label))
    cast = 0
    for at in times:
        for question, label in by_time[at]:
            tallies.setdefault(question, Counter())[label] += 1
        cast = max(sum(t.values()) for t in tallies.values())
        if outcome_final(tallies=tallies, questions=questions, allow_tie=allow_tie, remaining=raters - cast):
            outcomes = {q: _majority(tallies[q]) for q in questions}
            return Finished(pair, item, at, outcomes)
    return None


def _majority(tally: Counter) -> str:
    ranked = tally.most_common()
    if not ranked or (len(ranked) > 1 and ranked[0][1] == ranked[1][1]):
        return TIE
    return ranked[0][0]


@dataclass(frozen=True)
class PairState:
    """Where one pair stands in a dynamic study."""

    pair: object
    status: str  # OPEN, SETTLED (every question settled), or NOT_NEEDED (ranking: its order is known without it)
    items_finished: int
    cap: int
    questions: Mapping[str, Settled]
    repeated_p: Mapping[str, float]
    adjusted_p: Mapping[str, float]  # Holm over the question's pairs: settled on a question when at most alpha
    interval: Mapping[str, tuple[float, float]]  # A's win rate, repeated confidence interval at alpha / pairs
    # Ranking studies: per question not settled by its own test, the system known to be ahead without
    # it and how it is known (BY_SETTLED_PAIRS or BY_MODEL); empty unless every such question is known.
    known: Mapping[str, tuple[str, str]] = field(default_factory=dict)


OPEN, SETTLED, NOT_NEEDED = "open", "settled", "not needed"
BY_SETTLED_PAIRS, BY_MODEL = "settled pairs", "Bradley-Terry model"


def settle_study(finished: Sequence[Finished], caps: Mapping[object, int], questions: Sequence[str], *,
                 alpha: float = ALPHA, ranking: bool = False, systems: Mapping[object, tuple[str, str]] | None = None,
                 ) -> dict[object, PairState]:
    """Every pair's state from the items finished so far (in the order they finished: time, then item).

    `caps`: each pair's item count. A pair is settled when all its questions are (sequential Holm
    over the pairs of each question at `alpha`). With `ranking` (and `systems`, each pair's two
    system names), a pair whose order on every question is known without it (`_known_everywhere`)
    is not needed: it receives no more items, though no test decided it."""
    ordered = sorted(finished, key=lambda f: (f.at, str(f.item)))
    by_pair: dict[object, list[Finished]] = {pair: [] for pair in caps}
    for f in ordered:
        by_pair[f.pair].append(f)
    done = {pair: len(items) for pair, items in by_pair.items()}
    paths = {q: {pair: Path([f.outcomes[q] for f in by_pair[pair]], cap, done[pair] >= cap) for pair, cap in caps.items()}
             for q in questions}
    settled = {q: settle(paths[q], alpha) for q in questions}
    p = {q: {pair: repeated_p(path) for pair, path in paths[q].items()} for q in questions}
    adjusted = {q: holm_adjusted(p[q]) for q in questions}
    level = alpha / max(len(caps), 1)
    systems = {pair: names for pair, names in (systems or {}).items() if pair in caps}
    known = _known_everywhere(settled, systems, questions, ordered, alpha) if ranking and systems else {}
    states = {}
    for pair, cap in caps.items():
        status = (SETTLED if all(settled[q][pair].settled for q in questions)
                  else NOT_NEEDED if pair in known else OPEN)
        states[pair] = PairState(
            pair, status, done[pair], cap, {q: settled[q][pair] for q in questions}, {q: p[q][pair] for q in questions},
            {q: adjusted[q][pair] for q in questions}, {q: repeated_interval(paths[q][pair], level) for q in questions},
            known.get(pair, {}),
        )
    return states


def _known_everywhere(settled, systems, questions, finished, alpha) -> dict[object, dict[str, tuple[str, str]]]:
    """Pairs whose order is known on every question they have not settled themselves, with the system
    ahead and how: implied by a chain of settled pairs, or, for two systems that are not neighbours
    in the current Bradley-Terry order, separated by the model fitted to every finished item (the
    difference of their strengths beyond the normal critical value at alpha / pairs). Neighbours
    are always compared directly."""
    names = sorted({name for pair in systems.values() for name in pair})
    z = NormalDist().inv_cdf(1 - alpha / (2 * max(len(systems), 1)))
    known: dict[object, dict[str, tuple[str, str]]] = {pair: {} for pair in systems}
    for q in questions:
        winners = {systems[pair]: systems[pair][0] if s.direction == A_WINS else systems[pair][1]
                   for pair, s in settled[q].items() if s.settled}
        implied, separated = implied_orders(winners), _separated(finished, systems, names, q, z)
        for pair in list(known):
            if settled[q][pair].settled:
                continue
            if systems[pair] in implied:
                known[pair][q] = (implied[systems[pair]], BY_SETTLED_PAIRS)
            elif systems[pair] in separated:
                known[pair][q] = (separated[systems[pair]], BY_MODEL)
            else:
                del known[pair]  # this question still needs the pair
    return {pair: ahead for pair, ahead in known.items() if ahead}


def _separated(finished, systems, names, question, z) -> dict[tuple[str, str], str]:
    """Pairs of systems, not neighbours in the Bradley-Terry order fitted to the finished items, that
    the model separates, with the one ahead."""
    index = {name: i for i, name in enumerate(names)}
    wins = np.zeros((len(names), len(names)))
    for f in finished:
        x, y = (index[name] for name in systems[f.pair])
        outcome = f.outcomes[question]
        wins[x, y] += 1.0 if outcome == A_WINS else 0.5 if outcome == TIE else 0.0
        wins[y, x] += 1.0 if outcome == B_WINS else 0.5 if outcome == TIE else 0.0
    theta = fit_strengths(wins)
    cov = strength_covariance(wins, theta)
    rank = {i: r for r, i in enumerate(np.argsort(-theta))}
    known = {}
    for x, y in itertools.combinations(range(len(names)), 2):
        se = math.sqrt(max(cov[x, x] + cov[y, y] - 2 * cov[x, y], 1e-300))
        if abs(rank[x] - rank[y]) > 1 and abs(theta[x] - theta[y]) > z * se:
            ahead = names[x] if theta[x] > theta[y] else names[y]
            known[(names[x], names[y])] = known[(names[y], names[x])] = ahead
    return known
