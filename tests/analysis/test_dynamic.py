"""A dynamic study's report: the design file read beside the votes CSV, and the sequential figures rebuilt from the votes.

The study: X vs Y and Y vs Z, 24 items each (the caps), 3 raters, forced choice, quality and
faithfulness. X wins every item it was shown on (all three raters agree); the platform stopped the
pair after 12 items, so the CSV has 12. Y vs Z alternates, Y on even items, Z on odd, all 24 rated.
By hand, for X vs Y, with two pairs sequential Holm tests it first at 0.05 / 2 = 0.025; before the
last item the boundary spends alpha * SHARE * (n / 24)^RHO = 0.025 * 0.1 * (n / 24)^2 by decisive
item n, and a path of n straight wins first crosses under the null with chance 2 * 0.5^n:
    n = 11: 2 / 2048 = 0.00098 > 0.0025 * (11 / 24)^2 = 0.00053   (not yet)
    n = 12: 2 / 4096 = 0.00049 < 0.0025 * (12 / 24)^2 = 0.00063   settled at item 12
Its repeated p-value is the smallest level crossed: 0.00049 / (0.1 * (12 / 24)^2) = 0.0195 (the
levels are a grid at most 2% apart, rounded up). Y vs Z never leads by more than one: open.
"""

import csv
import io
import json
import re
import subprocess
import sys

import pytest

from analysis import AnalysisError, VotesFileWarning, build_report, read_votes, render_report, report_rows, sequential
from analysis.design import design_document
from tests.support import ROOT
from tests.support.analysis_fixtures import HEADER

QUESTIONS = ("quality", "faithfulness")
ALPHA = 0.05
HAND_P = 2 * 0.5**12 / (sequential.SHARE * (12 / 24) ** sequential.RHO)


def study_rows(lopsided_items: int = 12, y_beats_z: bool = False) -> list[dict]:
    """Votes in time order: item i of each pair at minute i; each rater of an item 10 seconds after the one before.
    `y_beats_z`: Y wins all 24 items against Z instead of every other one."""
    rows = []
    for i in range(24):
        y_or_z = "Y" if y_beats_z or i % 2 == 0 else "Z"
        for pair, (a, b), winner in (("xy", ("X", "Y"), "X"), ("yz", ("Y", "Z"), y_or_z)):
            if pair == "xy" and i >= lopsided_items:
                continue
            for k in range(3):
                for question in QUESTIONS:
                    rows.append({
                        "study": "dyn", "item": f"{pair}{i:02d}", "prompt_id": f"p{i:02d}", "prompt": "a cat",
                        "category": "animals", "system_a": a, "system_b": b, "question": question, "rater": f"r{k}",
                        "choice": winner, "left": a if k % 2 else b, "reasons": "pixel_sharpness", "watch_ms": "4000",
                        "created_at": f"2026-01-05T10:{i:02d}:{10 * k + (5 if pair == 'yz' else 0):02d}+00:00",
                    })  # fmt: skip
    return rows


def as_csv(rows: list[dict]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=HEADER.split(","), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


def design(dynamic: bool = True, pair_items=(("X", "Y", 24), ("Y", "Z", 24)), **changes) -> dict:
    document = design_document(
        study="dyn", dynamic=dynamic, alpha=ALPHA, ranking=False, raters_per_item=3, allow_tie=False, early_stop=False,
        questions=QUESTIONS, pairs=pair_items,
    )
    return {**document, **changes}


@pytest.fixture(scope="module")
def votes():
    return read_votes(io.StringIO(as_csv(study_rows())))


@pytest.fixture(scope="module")
def report(votes) -> dict:
    return build_report(votes, bootstrap=0, design=design())


def figure(report: dict, pair: tuple[str, str], question: str = "quality") -> dict:
    (found,) = [p for p in report["pairs"] if (p["system_a"], p["system_b"]) == pair and p["question"] == question]
    return found


@pytest.mark.parametrize("question", QUESTIONS)
def test_the_lopsided_pair_is_settled_at_the_item_worked_out_by_hand(report, question):
    xy = figure(report, ("X", "Y"), question)
    sequential = xy["sequential"]
    assert (sequential["status"], sequential["settled"], sequential["direction"]) == ("settled", True, "X")
    assert sequential["at_item"] == 12 and sequential["items_finished"] == 12 and sequential["cap"] == 24
    assert HAND_P <= sequential["repeated_p"] <= HAND_P * 1.07
    assert sequential["repeated_p"] <= ALPHA and sequential["repeated_p_holm"] == pytest.approx(2 * sequential["repeated_p"])
    assert sequential["level"] == pytest.approx(ALPHA / 2)
    low, high = sequential["interval"]
    # X's win rate, valid although the pair stopped early: the Wilson interval of 12 wins in 12 at the
    # look's critical value z = (12 - 2 * 0) / sqrt(12), whose lower end is 12 / (12 + z^2) = 0.5.
    assert (low, high) == (pytest.approx(0.5), 1.0)


def test_the_equal_pair_stays_open(report):
    sequential = figure(report, ("Y", "Z"))["sequential"]
    assert (sequential["status"], sequential["settled"], sequential["direction"], sequential["at_item"]) == ("open", False, None, None)
    assert sequential["items_finished"] == 24 and sequential["repeated_p_holm"] > ALPHA
    low, high = sequential["interval"]
    assert low < 0.5 < high


def test_the_report_states_the_design_and_flags_the_fixed_sample_figures(report):
    echo = report["design"]
    assert (echo["dynamic"], echo["alpha"], echo["ranking"], echo["rho"]) == (True, ALPHA, False, sequential.RHO)
    assert "group-sequential" in echo["rule"] and echo["fixed_sample_valid"] is False
    assert "not valid" in echo["notes"] and "lean away from 50%" in echo["notes"]
    assert echo["pairs"][0] == {"system_a": "X", "system_b": "Y", "items": 24, "status": "settled", "items_finished": 12}
    xy = figure(report, ("X", "Y"))
    assert xy["fixed_sample_valid"] is False
    # The fixed-sample figures are still there, for what they are: 12 straight wins, p = 2 / 4096.
    assert xy["p_value"] == pytest.approx(2 / 4096) and xy["win_rate_a"] == 1.0


def test_the_direction_and_interval_follow_the_report_whatever_the_design_orientation(votes):
    flipped = build_report(votes, bootstrap=0, design=design(pair_items=(("Y", "X", 24), ("Z", "Y", 24))))
    sequential = figure(flipped, ("X", "Y"))["sequential"]
    assert sequential["direction"] == "X" and sequential["at_item"] == 12
    assert sequential["interval"] == [pytest.approx(0.5), 1.0]  # still X's win rate, as X is the report's system_a


def test_a_non_dynamic_design_changes_nothing_but_the_echo(votes):
    plain = build_report(votes, bootstrap=0)
    fixed = build_report(votes, bootstrap=0, design=design(dynamic=False))
    assert plain["design"] is None
    assert fixed["design"]["dynamic"] is False and fixed["design"]["fixed_sample_valid"] is True
    del fixed["design"], plain["design"]
    assert fixed == plain


def test_a_pair_without_votes_is_open_and_in_a_ranking_study_not_needed_once_its_order_follows():
    votes = read_votes(io.StringIO(as_csv(study_rows(y_beats_z=True))))
    three = (("X", "Y", 24), ("Y", "Z", 24), ("X", "Z", 24))
    plain = build_report(votes, bootstrap=0, design=design(pair_items=three))
    assert plain["design"]["pairs"][2] == {"system_a": "X", "system_b": "Z", "items": 24, "status": "open", "items_finished": 0}
    assert "No votes yet: X vs Z." in render_report(plain, "html")
    # X beat Y and Y beat Z, both settled: a ranking study needs no X vs Z.
    ranking = build_report(votes, bootstrap=0, design=design(pair_items=three, ranking=True))
    assert [p["status"] for p in ranking["design"]["pairs"]] == ["settled", "settled", "not needed"]


def test_csv_rows_carry_the_sequential_columns(report):
    rows = {(r["system_a"], r["question"]): r for r in report_rows(report)}
    xy = rows["X", "quality"]
    assert (xy["fixed_sample_valid"], xy["sequential_status"], xy["sequential_direction"], xy["sequential_at_item"]) == (
        False, "settled", "X", 12,
    )  # fmt: skip
    assert xy["sequential_interval_high"] == 1.0 and xy["sequential_repeated_p"] <= ALPHA
    text = render_report(report, "csv")
    header = next(csv.reader(io.StringIO(text)))
    assert header[-3:] == ["sequential_level", "sequential_interval_low", "sequential_interval_high"]


def test_renderers_say_the_study_was_dynamic(report):
    page = render_report(report, "html")
    assert "Dynamic evaluation" in page and "not valid under this design" in page
    assert "X better: settled at item 12 of 24" in page and "not settled: all 24 items finished" in page
    for fmt in ("markdown", "latex"):
        text = render_report(report, fmt)
        assert "dynamic" in text.lower() and "settled" in text


def test_paper_tables_mark_what_the_sequential_test_settled_not_the_fixed_sample_test():
    # After 11 straight wins X vs Y is not settled yet (worked out above), though its fixed-sample Holm p is 2 * 2 / 2048 < 0.05.
    votes = read_votes(io.StringIO(as_csv(study_rows(lopsided_items=11))))
    dynamic = render_report(build_report(votes, bootstrap=0, design=design()), "markdown")
    fixed = render_report(build_report(votes, bootstrap=0, design=design(dynamic=False)), "markdown")
    assert "| X |  | 100.0 |  |" in dynamic and "| X |  | 100.0\\* |  |" in fixed
    assert "settled by the sequential test of this dynamic study" in dynamic and "dynamic" not in fixed


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"format": "juice-design/9"}, "field 'format' is 'juice-design/9'"),
        ({"alpha": 0.9}, "field 'alpha' must be a number above 0 and at most 0.5, not 0.9"),
        ({"alpha": "0.05"}, "field 'alpha' must be a number"),
        ({"rho": 4.0}, "field 'rho' is 4.0"),
        ({"share": 1.0}, "field 'share' is 1.0"),
        ({"dynamic": "yes"}, "field 'dynamic' must be true or false"),
        ({"raters_per_item": 0}, "field 'raters_per_item' must be a whole number from 1"),
        ({"raters_per_item": 2}, "raters_per_item is 2, but an item of the votes has 3 votes"),
        ({"questions": ["quality"]}, "questions quality, but the votes answer quality, faithfulness"),
        ({"study": "other"}, "study 'other', but the votes are of study 'dyn'"),
        ({"pairs": [{"system_a": "X", "system_b": "Y", "items": 12}]},
         "the votes have pair Y vs Z, which the design's pairs (X vs Y) do not list"),
        ({"pairs": [{"system_a": "X", "system_b": "Y", "items": 8}, {"system_a": "Y", "system_b": "Z", "items": 24}]},
         "pair X vs Y has 12 items in the votes but 8 in the design's 'items'"),
        ({"pairs": [{"system_a": "X", "system_b": "X", "items": 8}]}, "pairs[0]: system_a and system_b must be two different"),
        ({"pairs": [{"system_a": "X", "items": 8}]}, "pairs[0] must be an object with system_a, system_b and items"),
    ],
)
def test_bad_design_files_are_refused_naming_the_field(votes, changes, message):
    with pytest.raises(AnalysisError, match="^design: .*" + re.escape(message)):
        build_report(votes, bootstrap=0, design=design(**changes))


def test_a_design_without_a_field_is_refused(votes):
    document = design()
    del document["raters_per_item"], document["pairs"]
    with pytest.raises(AnalysisError, match=r"^design: missing field\(s\) raters_per_item, pairs$"):
        build_report(votes, bootstrap=0, design=document)


def test_tie_votes_need_a_design_that_allowed_ties_and_a_design_is_an_object():
    rows = study_rows()
    rows[0]["choice"] = "tie"
    votes = read_votes(io.StringIO(as_csv(rows)))
    with pytest.raises(AnalysisError, match=r"^design: allow_tie is false, but the votes have 'tie' choices$"):
        build_report(votes, bootstrap=0, design=design())
    assert build_report(votes, bootstrap=0, design=design(allow_tie=True))["design"]["allow_tie"] is True
    with pytest.raises(AnalysisError, match=r"^design: the file must hold one JSON object$"):
        build_report(votes, bootstrap=0, design=[design()])


def test_a_dynamic_design_needs_the_time_of_every_vote():
    rows = study_rows()
    rows[4]["created_at"] = rows[5]["created_at"] = "05/01/2026 10:00"  # as a spreadsheet saves a time back
    with pytest.warns(VotesFileWarning):
        votes = read_votes(io.StringIO(as_csv(rows)))
    with pytest.raises(AnalysisError, match=r"^2 votes have no created_at with a timezone"):
        build_report(votes, bootstrap=0, design=design())
    assert build_report(votes, bootstrap=0, design=design(dynamic=False))["design"]["dynamic"] is False


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "analysis", *args], cwd=ROOT, capture_output=True, text=True, timeout=120)


def test_the_command_reads_the_design_file(tmp_path, report):
    votes_path, design_path = tmp_path / "votes.csv", tmp_path / "design.json"
    votes_path.write_text(as_csv(study_rows()), encoding="utf-8")
    design_path.write_text(json.dumps(design()), encoding="utf-8")
    result = run_cli("report", str(votes_path), "--design", str(design_path), "--bootstrap", "0")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["pairs"] == report["pairs"]

    design_path.write_text("{not json", encoding="utf-8")
    result = run_cli("report", str(votes_path), "--design", str(design_path))
    assert result.returncode == 2 and f"design file {design_path}: not JSON" in result.stderr
    result = run_cli("report", str(votes_path), "--design", str(tmp_path / "missing.json"))
    assert result.returncode == 2 and "cannot read the design file" in result.stderr


def test_the_order_of_the_looks_comes_from_the_design_file(votes):
    # X beats Y on all 24 items but the first two in time. By time the path opens with two Y wins and
    # crosses later; in the order the design carries (the live monitor's), X's 22 wins come first
    # and cross at the 12th item, as worked out by hand above.
    rows = study_rows(lopsided_items=24)
    for row in rows:
        if row["item"] in ("xy00", "xy01"):
            row["choice"] = "Y"
    turned = read_votes(io.StringIO(as_csv(rows)))
    by_time = figure(build_report(turned, bootstrap=0, design=design()), ("X", "Y"))["sequential"]
    order = [f"xy{i:02d}" for i in range(2, 24)] + ["xy00", "xy01"] + [f"yz{i:02d}" for i in range(24)]
    by_order = figure(build_report(turned, bootstrap=0, design=design(order=order)), ("X", "Y"))["sequential"]
    assert by_order["settled"] and by_order["at_item"] == 12
    assert by_time["at_item"] != 12
    for bad in (["xy00", "xy00"], [3], "xy00"):
        with pytest.raises(AnalysisError, match="field 'order'"):
            build_report(votes, bootstrap=0, design=design(order=bad))
