"""Dynamic evaluation: when a pair of systems has been compared enough.

A pair's items are judged one after another, each ending in a majority for system A, for system
B, or a tie. After every finished item the pair's count of A wins among its decisive items is
checked against a group-sequential boundary of the two-sided test of "A and B win equally often".

Information. The test uses the decisive items; its information fraction is the decisive items so
far against those expected at the end, with the tie rate estimated as the study goes (the share of
ties among the items finished): n / (cap * n / items) = items / cap, the share of the pair's items
finished, ties included. (The rule before issue 29 counted decisive items over the cap, so with 45%
ties a pair reached at most t = 0.55 before its last item and spent almost nothing until then.)
Under "A and B win equally often" the decisive items' signs are fair coins whatever the ties are,
so given where the ties fall each look's boundary is set exactly (the binomial walk, no normal
approximation): the widest whose chance of a first crossing there, over the paths not yet
crossed, keeps the chance of having crossed within alpha(t). The chance of ever crossing is then at
most alpha whenever and however often one looks, and whatever the tie rate; a pair that crosses is
settled in the direction of its lead and can stop receiving items at once. The pair's last item
spends all that is left. A tie is no look of its own (the walk does not move); the next look
spends what it added.

Spending. Before a pair's last item the looks spend alpha * SHARE * t^RHO, SHARE = 0.1 and RHO = 2;
the last look spends the rest (a mixture of Kim and DeMets' power family and a Haybittle-Peto-like
reserve). Why: the full design (the fixed exact test on all items, Holm) decides the pairs near its
threshold by a margin of one win or so, and whatever alpha the looks before the last spend on paths
that end below that threshold narrows the last look's boundary below the fixed test's; with alpha *
t^4 (the rule until issue 29 closed) the neighbouring pairs at 0.6, which the full design decides in
about a fifth of studies, were decided the same way in only 88% to 91% of those. Chosen with
bench/bench_dynamic.py and an exact computation (one pair of 200 items, 43% ties, win rate 0.6
among decisive items, 40 patterns of ties; the chance that the dynamic design decides it given
that the fixed test at Holm level alpha / m does, m = 1..10; and the items a pair at 0.69 and at
0.77 is served at alpha / 36):

    spending before the last look      decided the same way     items served (0.69 / 0.77)
    alpha * t^4 (share 1)              0.90 to 0.96              151 / 100
    alpha * t^8                        0.955 to 0.985            161 / 115
    alpha * t^12                       0.97 to 0.997             168 / 126
    O'Brien-Fleming-like (Lan-DeMets)  0.91 to 0.93              158 / 114
    0.2 alpha * t^2                    0.972 to 0.994            163 / 104
    0.1 alpha * t^2 (chosen)           0.977 to 1.0              169 / 110
    0.05 alpha * t                     0.977 to 1.0              176 / 115

The strong pairs still stop early (the many pairs two or more steps apart make the savings). With
realistic raters (issue 29: 20% random raters, 25% ties, position bias; about 43% of items tied),
36 pairs, 200 prompts, 200 studies: alpha * t^4 saved 38.8% of votes; 0.1 alpha * t^2 saves 34.6%
and decides the pairs the full design decides in under half the studies the same way in 97.4% of
their 346 decisions (README, "Dynamic evaluation", has the 2,000-study figures and the scenarios).

Update cost. `Monitor` holds one pair's state: per level of P_GRID, the distribution of A's wins
over the paths not yet crossed (a vector of at most cap / 2 + 2 numbers: the walk is symmetric),
the alpha used, and per look the boundary. A newly finished item moves the walk by at most one
step and adds one look: O(levels x decisive items so far) arithmetic, nothing before recomputed,
so an update costs O(newly finished items). The serving path may keep a Monitor per pair and
question and feed it the items in their finish order (`track` rebuilds one from a whole path).

Family-wise over the pairs of a question: Holm's procedure made sequential (Maurer and Bretz,
2013): every pair not yet settled is tested at alpha / m, m the count of pairs not yet settled;
when one settles, the others' level rises to alpha / (m - 1) and their looks so far are checked
again at that level. Equivalently, a pair is settled when its Holm-adjusted repeated p-value is
at most alpha, where the repeated p-value is the smallest level at which its path has crossed.

Drift. Raters who come late may judge differently from those who came early; a pair settled on
its early items then speaks for the early crowd. `drift_p` tests, for a settled pair, whether the
first and second halves of its items (in finish order, up to its settlement) have the same win
rate (Fisher's exact test); the report and the study page flag a settlement where they disagree at
DRIFT_LEVEL. A settlement made early, before the crowd changed, cannot be caught this way: the
burn-in (`Path.burn_in`, the study option `dynamic_burn_in`) spends no alpha before that share of
a pair's items has finished, alpha * SHARE * ((t - b) / (1 - b))^RHO from there.

Ranking: a pair whose order settled pairs imply through transitivity (`implied_orders`) needs no
items of its own. With equal systems any order claimed implies a false settlement, so the
family-wise error of the claims is that of the settlements.

Intervals: the repeated confidence interval of Jennison and Turnbull, the set of win rates the
looks so far have not rejected at the pair's Bonferroni level alpha / pairs, in the Wilson form
with each look's critical value, intersected over the looks. It covers the win rate at every look
at once, so it is valid at whatever look the pair stopped. Point estimates of a stopped pair lean
away from one half (stopping happens when the lead is large) and are reported as such.
"""

from __future__ import annotations

import copy
import math
from collections import Counter, OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy.special import gammaln

from analysis.outcomes import outcome_decided

RHO = 2.0
# The share of alpha the looks before a pair's last item may spend; the last look spends the rest.
SHARE = 0.1
# A settled pair is flagged when its early and late halves disagree at this level (`drift_p`).
DRIFT_LEVEL = 0.05
ALPHA = 0.05
A_WINS, B_WINS, TIE = "a", "b", "tie"
# The levels a pair is tested at: log-spaced, each 2% above the one before from 1e-5 up (where
# decisions are made), coarser below. A pair is tested at the largest of them not above the level
# it is given, and its repeated p-value is the smallest it crossed: at most 2% above the exact one
# from 1e-5 up, never below (rounding up keeps it valid).
P_GRID = np.concatenate([np.geomspace(1e-10, 1e-5, 30, endpoint=False), np.geomspace(1e-5, 1.0, 582)])
DESCRIPTION = (
    "group-sequential two-sided exact binomial test per pair, on the decisive item majorities in the order the items "
    "were decided, a look after every finished item; before the last item alpha spent as alpha * share * t^rho "
    "(share 0.1, rho 2), the rest at the last, t the share of the pair's items finished (ties included: the decisive "
    "items so far against those expected at the end), each look's boundary exact given the looks before; family-wise "
    "over the pairs of each question by sequential Holm (Maurer and Bretz 2013)"
)


@dataclass(frozen=True)
class Path:
    """One pair's item outcomes on one question, in the order they were decided."""

    outcomes: Sequence[str]  # A_WINS, B_WINS or TIE per decided item
    cap: int  # the pair's item count: the most items it can receive
    complete: bool = False  # every item of the pair has been decided: the last look spends all that is left
    burn_in: float = 0.0  # the share of its items finished before the pair spends any alpha (it cannot settle before)

    def walk(self) -> tuple[np.ndarray, np.ndarray]:
        """(A wins so far, decisive items so far) after each finished item (ties included)."""
        a = np.cumsum([o == A_WINS for o in self.outcomes], dtype=np.int64)
        n = np.cumsum([o != TIE for o in self.outcomes], dtype=np.int64)
        return a, n


@dataclass(frozen=True)
class Settled:
    """A pair's state after the looks so far."""

    settled: bool
    direction: str | None  # A_WINS or B_WINS when settled
    look: int | None  # the decisive items counted at the look where its path first crossed the boundary it settled on
    items: int  # items decided when it crossed (ties included), or all decided so far
    level: float | None  # the alpha it was tested at when it settled

    def winner(self, names: tuple[str, str]) -> str | None:
        """The better system's name of the pair's (system_a, system_b) `names`, once settled."""
        if not self.settled:
            return None
        return names[0] if self.direction == A_WINS else names[1]


def spent(t: np.ndarray | float, alpha: np.ndarray | float, burn_in: float = 0.0) -> np.ndarray:
    """Alpha spent by the looks before the last at information t (0..1): alpha * SHARE * t^RHO; with a
    burn-in b, alpha * SHARE * ((t - b) / (1 - b))^RHO from b on, none before. The last look spends all of alpha."""
    t = np.clip((np.asarray(t, dtype=float) - burn_in) / (1.0 - burn_in), 0.0, 1.0) if burn_in > 0 else np.minimum(t, 1.0)
    return np.asarray(alpha) * SHARE * np.asarray(t) ** RHO


class Monitor:
    """One pair's boundaries, look by look, at the levels of P_GRID from row `first_row` up.

    A look is taken after every finished item. Its information is t = items finished / cap: the
    decisive items so far against the decisive items expected at the end, with the tie rate
    estimated by the share of ties so far (n / (cap * n / items) = items / cap). A tie is a look at
    which the walk does not move but the budget grows. Under "A and B win equally often" the
    decisive items' signs are fair coins whatever the ties are, so given the ties every look's
    boundary is set exactly: the chance of a first crossing there (the binomial walk's distribution
    over the paths not yet crossed, `alive`) keeps the chance of having crossed within alpha(t).

    The update is O(newly finished items): each item advances `alive` (levels x decisive so far)
    by at most one step and appends one column of boundaries; nothing before is recomputed. The
    serving path may keep a Monitor per pair and question and feed it the items as they finish.

    A higher level never has a narrower boundary: each look's k is capped by the k of every higher
    level (capping only removes crossings, so each level's chance of ever crossing stays within
    it). Without the cap, the discreteness of the walk lets a lower level, having spent less early,
    cross at a look where a higher one does not, and Holm's shortcut needs crossings to nest. A
    row's boundaries depend on the rows above it only, so tracking rows from `first_row` up gives
    the same boundaries there as tracking all.
    """

    def __init__(self, cap: int, first_row: int = 0, burn_in: float = 0.0):
        self.cap = max(int(cap), 1)
        self.burn_in = burn_in
        self.levels = P_GRID[first_row:]
        self.first_row = first_row
        # The chance of being at w wins without having crossed, for w up to half the decisive items:
        # the walk and its boundaries are symmetric, so the upper half mirrors the lower.
        self.alive = np.zeros((len(self.levels), self.cap // 2 + 2))
        self.alive[:, 0] = 1.0
        self.used = np.zeros(len(self.levels))
        self.n = self.items = self.wins = 0
        self.k: list[np.ndarray] = []  # per look, per row: cross when the trailing system's wins are at most k
        self.a: list[int] = []  # A's wins at each look
        self.decisive: list[int] = []  # decisive items at each look
        self.at: list[int] = []  # items finished at each look (ties included)
        self.first = np.zeros(len(self.levels), dtype=np.int64)  # per row: items finished when it first crossed, 0 none

    def add(self, outcome: str, final: bool = False) -> None:
        """One more finished item; `final`: the pair's last, whose look spends all that is left. A tie
        moves nothing and is no look (the next look spends the budget it added), unless it is the last."""
        self.items += 1
        last = final or self.items >= self.cap
        if outcome != TIE:
            self.n += 1
            self.wins += outcome == A_WINS
            n, h = self.n, self.alive
            m = n // 2
            if n % 2 == 0:
                h[:, m] = h[:, m - 1]  # the count just above the middle mirrors the one below
            h[:, 1 : m + 1] = 0.5 * (h[:, 1 : m + 1] + h[:, :m])
            h[:, 0] *= 0.5
        elif not (last and self.n):
            return
        n, h = self.n, self.alive
        budget = self.levels if last else spent(self.items / self.cap, self.levels, self.burn_in)
        half = (n + 1) // 2  # counts 0..half-1 lie strictly below the middle
        tails = 2.0 * np.cumsum(h[:, :half], axis=1)
        # The largest k within budget (a relative 1e-9 for rounding; tails grow with k), capped from above.
        k = (tails <= (budget - self.used)[:, None] * (1 + 1e-9)).sum(axis=1) - 1
        k = np.minimum.accumulate(k[::-1])[::-1]
        hit = k >= 0
        if hit.any():
            self.used[hit] += tails[hit, k[hit]]
            h[:, :half] *= np.arange(half)[None, :] > k[:, None]
        self.k.append(k.astype(np.int32))
        self.a.append(self.wins)
        self.decisive.append(n)
        self.at.append(self.items)
        newly = (k >= min(self.wins, n - self.wins)) & (self.first == 0)
        self.first[newly] = self.items

    def row(self, level: float) -> int:
        """The tracked row of `level`: the largest level of P_GRID not above it."""
        return max(int(np.searchsorted(P_GRID, level * (1 + 1e-12), side="right")) - 1 - self.first_row, 0)


def track(path: Path, first_row: int = 0) -> Monitor:
    """A Monitor fed the path's outcomes. Kept (`MONITORS` of them, the most recently used): a path that
    extends one tracked before, as a pair's path does from one recomputation to the next, starts from
    a copy of that one's state and adds only its new items. Callers read a Monitor, never change it."""
    outcomes = tuple(path.outcomes[: path.cap])
    final = bool(path.complete) and len(outcomes) > 0
    settings = (int(path.cap), float(path.burn_in), int(first_row), RHO, SHARE)
    known = _MONITORS.get((settings, outcomes, final))
    if known is not None:
        _MONITORS.move_to_end((settings, outcomes, final))
        return known
    running = outcomes[:-1] if final else outcomes  # the looks before a last one that spends all
    # The longest kept path of the same settings that this one extends.
    longest = max((key[1] for key in _MONITORS if key[0] == settings and not key[2] and len(key[1]) <= len(running)
                   and running[: len(key[1])] == key[1]), key=len, default=None)
    if longest is not None:
        monitor, start = copy.deepcopy(_MONITORS[(settings, longest, False)]), len(longest)
    else:
        monitor, start = Monitor(path.cap, first_row, path.burn_in), 0
    for outcome in running[start:]:
        monitor.add(outcome)
    _remember((settings, running, False), monitor)
    if final:
        monitor = copy.deepcopy(monitor)
        monitor.add(outcomes[-1], final=True)
        _remember((settings, outcomes, True), monitor)
    return monitor


# Monitors kept for `track`: each holds levels x (cap / 2 + 2) floats and a column of boundaries per look
# (about 0.7 MB for a pair of 200 items); enough for a few studies' pairs and questions.
MONITORS = 192
_MONITORS: OrderedDict = OrderedDict()


def _remember(key: tuple, monitor: Monitor) -> None:
    _MONITORS[key] = monitor
    _MONITORS.move_to_end(key)
    while len(_MONITORS) > MONITORS:
        _MONITORS.popitem(last=False)


def look_p_values(path: Path) -> np.ndarray:
    """At each look (each decisive item, and the pair's last item), the smallest level of P_GRID whose
    boundary the path crosses there (1 if none)."""
    monitor = track(path)
    if not monitor.k:
        return np.ones(0)
    k = np.stack(monitor.k, axis=1)
    a, n = np.array(monitor.a), np.array(monitor.decisive)
    crossed = k >= np.minimum(a, n - a)[None, :]  # nested: once a level crosses, every higher one does
    first = crossed.argmax(axis=0)
    return np.where(crossed.any(axis=0), P_GRID[monitor.first_row + first], 1.0)


def repeated_p(path: Path) -> float:
    """The smallest level at which the path has crossed at some look so far: a p-value valid at any look."""
    monitor = track(path)
    crossed = np.nonzero(monitor.first)[0]
    return float(P_GRID[monitor.first_row + crossed[0]]) if len(crossed) else 1.0


def first_crossing(path: Path, level: float) -> int:
    """The first look (1-based: items finished, ties included) at which the path crosses the boundary of `level`; 0 if none."""
    monitor = track(path)
    return int(monitor.first[monitor.row(level)]) if monitor.k else 0


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
    nest across levels (`Monitor`), so this is the sequential procedure of Maurer and Bretz."""
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
    """Settled at the look (items finished) where it first crossed `level`, in the direction of its lead there."""
    a, n = path.walk()
    wins, decisive = int(a[look - 1]), int(n[look - 1])
    direction = A_WINS if 2 * wins > decisive else B_WINS
    return Settled(True, direction, decisive, look, level)


def repeated_interval(path: Path, level: float) -> tuple[float, float]:
    """The repeated confidence interval of A's win rate among decisive items at `level` (the largest
    level of P_GRID not above it): Wilson intervals with each look's critical value, intersected over
    the looks so far. (0, 1) before any look can reject."""
    monitor = track(path)
    return monitor_interval(monitor, level, len(monitor.k))


def monitor_interval(monitor: Monitor, level: float, looks: int) -> tuple[float, float]:
    """`repeated_interval` over a Monitor's first `looks` looks."""
    if not looks:
        return 0.0, 1.0
    row = monitor.row(level)
    low, high = 0.0, 1.0
    for i in range(looks):
        k, n = int(monitor.k[i][row]), monitor.decisive[i]
        if k < 0:
            continue
        z = (n - 2 * k) / math.sqrt(n)  # the look's boundary on the standardized scale
        lo, hi = _wilson(monitor.a[i], n, z)
        low, high = max(low, lo), min(high, hi)
    last = looks - 1
    return (float(low), float(high)) if low <= high else (float(monitor.a[last] / monitor.decisive[last]),) * 2


def drift_p(outcomes: Sequence[str]) -> float:
    """Whether a pair's items finished early and late agree: Fisher's exact test (two-sided) of A's share of
    the decisive items in the first half of its finished items (in finish order) against the second half.
    Items are exchangeable when raters do not drift, so under no drift it rejects at most at its level
    (conditioning on the margins, whatever the win rate is). 1.0 when either half has no decisive item."""
    half = len(outcomes) // 2
    table = [[sum(o == side for o in part) for side in (A_WINS, B_WINS)] for part in (outcomes[:half], outcomes[half:])]
    if min(sum(row) for row in table) == 0:
        return 1.0
    return fisher_p(table)


def fisher_p(table: Sequence[Sequence[int]]) -> float:
    """Fisher's exact test, two-sided, of a 2 x 2 table: the chance, given its margins, of a table no more
    likely than this one (relative 1e-7 for rounding, as is usual). scipy.special only: the JSON report
    loads no scipy.stats."""
    (a, b), (c, d) = table
    rows, first, n = a + b, a + c, a + b + c + d
    x = np.arange(max(0, first - (c + d)), min(rows, first) + 1)
    log_pmf = (_log_comb(rows, x) + _log_comb(c + d, first - x)) - _log_comb(n, first)
    observed = _log_comb(rows, a) + _log_comb(c + d, c) - _log_comb(n, first)
    return float(min(1.0, np.exp(log_pmf[log_pmf <= observed + 1e-7]).sum()))


def _log_comb(n, k):
    return gammaln(n + 1) - gammaln(k + 1) - gammaln(n - k + 1)


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
    status: str  # OPEN, SETTLED (every question settled), or NOT_NEEDED (ranking: its order is implied by settled pairs)
    items_finished: int
    cap: int
    questions: Mapping[str, Settled]
    repeated_p: Mapping[str, float]
    adjusted_p: Mapping[str, float]  # Holm over the question's pairs: settled on a question when at most alpha
    interval: Mapping[str, tuple[float, float]]  # A's win rate, repeated confidence interval at alpha / pairs
    # Ranking studies: per question not settled by its own test, the system ahead by a chain of settled
    # pairs and how it is known (BY_SETTLED_PAIRS); empty unless every such question is known.
    known: Mapping[str, tuple[str, str]] = field(default_factory=dict)
    # Per settled question, `drift_p` of the pair's items up to its settlement (early half against late
    # half); None for a question not settled. A settlement is flagged when it is at most DRIFT_LEVEL.
    drift: Mapping[str, float | None] = field(default_factory=dict)

    def drift_flagged(self, question: str) -> bool:
        """Whether the settlement on `question` came from items whose early and late halves disagree."""
        p = self.drift.get(question)
        return p is not None and p <= DRIFT_LEVEL


OPEN, SETTLED, NOT_NEEDED = "open", "settled", "not needed"
BY_SETTLED_PAIRS = "settled pairs"


def settle_study(finished: Sequence[Finished], caps: Mapping[object, int], questions: Sequence[str], *,
                 alpha: float = ALPHA, ranking: bool = False, systems: Mapping[object, tuple[str, str]] | None = None,
                 burn_in: float = 0.0) -> dict[object, PairState]:
    """Every pair's state from the items finished so far (in the order they finished: time, then item).

    `caps`: each pair's item count. A pair is settled when all its questions are (sequential Holm
    over the pairs of each question at `alpha`; no pair spends alpha before `burn_in` of its items
    have finished). With `ranking` (and `systems`, each pair's two system names), a pair whose order
    on every question it has not settled is implied by a chain of settled pairs (`implied_orders`)
    is not needed: it receives no more items. Its order is claimed only when the settled pairs are
    right, so the family-wise error of every order claimed is that of the settlements: at most alpha
    under equal systems (and whenever the true order is transitive)."""
    ordered = sorted(finished, key=lambda f: (f.at, str(f.item)))
    by_pair: dict[object, list[Finished]] = {pair: [] for pair in caps}
    for f in ordered:
        by_pair[f.pair].append(f)
    outcomes = {pair: {q: [f.outcomes[q] for f in items] for q in questions} for pair, items in by_pair.items()}
    return settle_paths(outcomes, caps, questions, alpha=alpha, ranking=ranking, systems=systems, burn_in=burn_in)


def settle_paths(outcomes: Mapping[object, Mapping[str, Sequence[str]]], caps: Mapping[object, int], questions: Sequence[str], *,
                 alpha: float = ALPHA, ranking: bool = False, systems: Mapping[object, tuple[str, str]] | None = None,
                 burn_in: float = 0.0) -> dict[object, PairState]:
    """`settle_study` from each pair's path: per pair and question, its finished items' outcomes in finish
    order (the same count on every question). A caller that keeps the paths (the platform stores them)
    extends them with newly finished items and settles again: the Monitors of paths that grew are advanced
    from the kept shorter ones (`track`), so that costs O(newly finished items), nothing re-read."""
    done = {pair: len(next(iter(outcomes[pair].values()), ())) if pair in outcomes else 0 for pair in caps}
    paths = {q: {pair: Path(list(outcomes[pair][q]) if pair in outcomes else [], cap, done[pair] >= cap, burn_in)
                 for pair, cap in caps.items()} for q in questions}
    settled = {q: settle(paths[q], alpha) for q in questions}
    p = {q: {pair: repeated_p(path) for pair, path in paths[q].items()} for q in questions}
    adjusted = {q: holm_adjusted(p[q]) for q in questions}
    level = alpha / max(len(caps), 1)
    systems = {pair: names for pair, names in (systems or {}).items() if pair in caps}
    known = _known_everywhere(settled, systems, questions) if ranking and systems else {}
    states = {}
    for pair, cap in caps.items():
        status = (SETTLED if all(settled[q][pair].settled for q in questions)
                  else NOT_NEEDED if pair in known else OPEN)
        drift = {q: drift_p(paths[q][pair].outcomes[: settled[q][pair].items]) if settled[q][pair].settled else None
                 for q in questions}
        states[pair] = PairState(
            pair, status, done[pair], cap, {q: settled[q][pair] for q in questions}, {q: p[q][pair] for q in questions},
            {q: adjusted[q][pair] for q in questions}, {q: repeated_interval(paths[q][pair], level) for q in questions},
            known.get(pair, {}), drift,
        )
    return states


def _known_everywhere(settled, systems, questions) -> dict[object, dict[str, tuple[str, str]]]:
    """Pairs whose order on every question they have not settled themselves is implied by a chain of
    settled pairs, with the system ahead. (An earlier version also let the Bradley-Terry model of the
    finished items separate non-neighbours; it claimed some order in 28% of studies of equal systems.)"""
    known: dict[object, dict[str, tuple[str, str]]] = {pair: {} for pair in systems}
    for q in questions:
        winners = {systems[pair]: systems[pair][0] if s.direction == A_WINS else systems[pair][1]
                   for pair, s in settled[q].items() if s.settled and pair in systems}
        implied = implied_orders(winners)
        for pair in list(known):
            if settled[q][pair].settled:
                continue
            if systems[pair] in implied:
                known[pair][q] = (implied[systems[pair]], BY_SETTLED_PAIRS)
            else:
                del known[pair]  # this question still needs the pair
    return {pair: ahead for pair, ahead in known.items() if ahead}
