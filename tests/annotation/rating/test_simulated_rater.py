"""The simulated rater that the tests and the benchmarks share judges as it says: its accuracy and left
bias, a coin where it is told nothing, the same judgment of an item whenever it meets it."""

from tests.support.raters import SimulatedRater


def share_left(rater: SimulatedRater, *, left: str | None, better: str | None, n: int = 4000) -> float:
    return sum(rater.side(("X", "Y", f"p{i}"), "quality", left=left, better=better) == "left" for i in range(n)) / n


def test_it_picks_the_better_side_with_its_accuracy_more_often_on_the_left():
    rater = SimulatedRater("w1", accuracy=0.8, left_bias=0.05)
    assert abs(share_left(rater, left="a", better="a") - 0.85) < 0.02  # the better one on the left
    assert abs(share_left(rater, left="b", better="a") - 0.25) < 0.02  # on the right: picked with 0.75
    assert share_left(SimulatedRater("w2"), left="b", better="b") == 1.0  # accuracy 1 by default


def test_told_nothing_it_flips_a_coin_and_a_fixed_choice_is_always_taken():
    assert abs(share_left(SimulatedRater("w1", accuracy=1.0), left=None, better=None) - 0.5) < 0.03
    assert share_left(SimulatedRater("w1", choice="right"), left="a", better="a") == 0.0


def test_it_judges_an_item_alike_whenever_it_meets_it_and_raters_differ():
    one, again, other = SimulatedRater("w1", accuracy=0.6), SimulatedRater("w1", accuracy=0.6), SimulatedRater("w2", accuracy=0.6)
    sides = [[r.side(("X", "Y", f"p{i}"), "quality", left="a", better="a") for i in range(200)] for r in (one, again, other)]
    assert sides[0] == sides[1] != sides[2]


def test_it_answers_the_apis_next_with_each_questions_first_reason():
    data = {"assignment": "tok", "questions": [{"key": "quality", "reasons": [{"key": "sharp"}, {"key": "smooth"}]},
                                               {"key": "faithfulness", "reasons": [{"key": "count"}]}]}
    body = SimulatedRater("w1", choice="left", watch_ms=5000).ballot_for_next(data)
    assert body == {"quality": {"choice": "left", "reasons": ["sharp"]}, "faithfulness": {"choice": "left", "reasons": ["count"]},
                    "watch_ms": 5000}
