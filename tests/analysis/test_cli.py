"""`python -m analysis report` end to end, on a study whose figures are worked out by hand.

The study (tests/analysis_fixtures.py, KNOWN_ITEMS): alpha vs beta, 4 items, 5 raters, quality
and faithfulness. By hand, for quality: outcomes alpha, alpha, alpha, beta (splits 5-0, 4-1, 3-2,
4-1); per item the votes for alpha are 5, 4, 3, 1 of 5, so p_alpha = 13/20 and the mean
pairwise agreement is (1 + 0.6 + 0.4 + 0.6) / 4 = 0.65, giving
    Fleiss' kappa  = (0.65 - 0.545) / (1 - 0.545)                 = 3/13
    Gwet's AC1     = (0.65 - 2 * 0.65 * 0.35) / (1 - 0.455)        = 39/109
    Krippendorff   = 1 - (20 - 1) * 7 / (2 * 13 * 7)             = 7/26
(7: the disagreeing pairs weighted 1/(m-1): 0 + 8/4 + 12/4 + 8/4). Faithfulness: every item 3-2,
two each way: kappa = AC1 = (0.4 - 0.5) / 0.5 = -0.2, alpha = 1 - 19 * 12 / 200 = -0.14.
"""

import csv
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import ROOT
from tests.support.analysis_fixtures import KNOWN_ITEMS, votes_csv


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "analysis", *args], cwd=ROOT, capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def votes_path(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("votes") / "votes.csv"
    path.write_text(votes_csv(KNOWN_ITEMS), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def json_report(votes_path: Path) -> dict:
    out = votes_path.parent / "report.json"
    result = run_cli("report", str(votes_path), "--format", "json", "-o", str(out), "--bootstrap", "200", "--seed", "3")
    assert result.returncode == 0, result.stderr
    return json.loads(out.read_text(encoding="utf-8"))


def pair(report: dict, question: str) -> dict:
    (found,) = [p for p in report["pairs"] if p["question"] == question]
    return found


def test_json_report_has_the_contract_keys(json_report):
    assert list(json_report)[:2] == ["pairs", "ranking"]
    # The contract's keys in its order, then the additions of December 2026 (and the detectable win rate).
    assert list(pair(json_report, "quality")) == [
        "system_a", "system_b", "question", "items", "wins_a", "wins_b", "ties", "win_rate_a", "ci95", "p_value",
        "vote_splits", "agreement", "reasons", "by_category",
        "net_win_rate_a", "net_ci95", "p_value_holm", "detectable_win_rate",
    ]  # fmt: skip
    assert set(pair(json_report, "quality")["agreement"]) == {"percent_unanimous", "fleiss_kappa", "krippendorff_alpha", "gwet_ac1"}
    assert list(json_report["ranking"]) == ["quality", "faithfulness"]


def test_json_report_win_rates(json_report):
    quality = pair(json_report, "quality")
    assert (quality["system_a"], quality["system_b"], quality["items"]) == ("alpha", "beta", 4)
    assert (quality["wins_a"], quality["wins_b"], quality["ties"]) == (3, 1, 0)
    assert quality["win_rate_a"] == 0.75
    # Wilson interval of 3/4: (p + z²/2n ± z sqrt(p(1-p)/n + z²/4n²)) / (1 + z²/n), z = 1.959964.
    assert quality["ci95"] == pytest.approx([0.300642, 0.954413], abs=1e-6)
    assert quality["p_value"] == pytest.approx(0.625)  # P(X >= 3) + P(X <= 1) = 2 * 5/16
    faithfulness = pair(json_report, "faithfulness")
    assert (faithfulness["wins_a"], faithfulness["wins_b"], faithfulness["win_rate_a"], faithfulness["p_value"]) == (2, 2, 0.5, 1.0)


def test_json_report_splits_and_agreement(json_report):
    quality, faithfulness = pair(json_report, "quality"), pair(json_report, "faithfulness")
    assert quality["vote_splits"] == {"5-0": 1, "4-1": 2, "3-2": 1}
    assert faithfulness["vote_splits"] == {"5-0": 0, "4-1": 0, "3-2": 4}
    assert quality["agreement"] == pytest.approx(
        {"percent_unanimous": 0.25, "fleiss_kappa": 3 / 13, "krippendorff_alpha": 7 / 26, "gwet_ac1": 39 / 109}
    )
    assert faithfulness["agreement"] == pytest.approx(
        {"percent_unanimous": 0.0, "fleiss_kappa": -0.2, "krippendorff_alpha": -0.14, "gwet_ac1": -0.2}
    )


def test_json_report_reasons_and_categories(json_report):
    quality = pair(json_report, "quality")
    # alpha won items 1-3 with 12 votes: 9 tick pixel sharpness, 6 motion smoothness; beta won item 4 with 4 votes.
    assert quality["reasons"] == {
        "alpha": {"motion_smoothness": 0.5, "pixel_sharpness": 0.75},
        "beta": {"motion_smoothness": 1.0, "pixel_sharpness": 0.25},
    }
    assert pair(json_report, "faithfulness")["reasons"]["alpha"] == {"spatial_alignment": 0.5, "temporal_alignment": 0.5}
    assert quality["by_category"] == {
        "animals": {"items": 2, "wins_a": 2, "wins_b": 0, "ties": 0, "win_rate_a": 1.0},
        "fantasy": {"items": 2, "wins_a": 1, "wins_b": 1, "ties": 0, "win_rate_a": 0.5},
    }


def test_json_report_ranking(json_report):
    quality = json_report["ranking"]["quality"]
    assert [entry["system"] for entry in quality] == ["alpha", "beta"]
    assert sum(entry["rating"] for entry in quality) / 2 == pytest.approx(1000)
    for entry in quality:
        low, high = entry["ci95"]
        assert low <= entry["rating"] <= high
    # Two items each way on faithfulness: a dead heat.
    assert [entry["rating"] for entry in json_report["ranking"]["faithfulness"]] == pytest.approx([1000, 1000])


def test_json_report_rater_figures(json_report):
    # Raters r1, r3, r5 see alpha on the left, r2 and r4 beta.
    assert json_report["position_bias"]["quality"]["votes"] == 20
    assert json_report["position_bias"]["quality"]["left"] == 11
    assert json_report["position_bias"]["faithfulness"]["share_left"] == 0.5
    r1 = json_report["raters"][0]
    assert r1 == {"rater": "r1", "votes": 8, "items": 4, "median_watch_ms": 1000.0, "share_left": 0.625, "majority_agreement": 1.0}
    assert json_report["summary"]["raters_per_item"] == 5
    assert json_report["settings"] == {"bootstrap": 200, "seed": 3, "excluded_raters": []}


def test_the_same_seed_gives_the_same_report(votes_path, json_report):
    result = run_cli("report", str(votes_path), "--bootstrap", "200", "--seed", "3")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == json_report


def test_csv_report_has_one_row_per_pair_and_question(votes_path):
    result = run_cli("report", str(votes_path), "--format", "csv", "--bootstrap", "0")
    assert result.returncode == 0, result.stderr
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert [(r["system_a"], r["system_b"], r["question"]) for r in rows] == [
        ("alpha", "beta", "quality"),
        ("alpha", "beta", "faithfulness"),
    ]
    quality = rows[0]
    assert (quality["items"], quality["wins_a"], quality["wins_b"], quality["ties"]) == ("4", "3", "1", "0")
    assert float(quality["win_rate_a"]) == 0.75
    assert float(quality["ci95_low"]) == pytest.approx(0.300642, abs=1e-6)
    assert (quality["split_5-0"], quality["split_4-1"], quality["split_3-2"]) == ("1", "2", "1")
    assert float(quality["gwet_ac1"]) == pytest.approx(39 / 109)
    assert float(quality["reasons_a_pixel_sharpness"]) == 0.75
    assert float(quality["reasons_b_motion_smoothness"]) == 1.0


def test_html_report_is_one_self_contained_page(votes_path, tmp_path):
    out = tmp_path / "report.html"
    result = run_cli("report", str(votes_path), "--format", "html", "-o", str(out), "--bootstrap", "50")
    assert result.returncode == 0, result.stderr
    page = out.read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>")
    for section in ("Win rates", "Ranking", "Why systems win", "Agreement between raters", "Raters", "Settings"):
        assert f"<h2>{section}</h2>" in page
    assert "75.0%" in page  # alpha over beta on quality
    assert page.count('src="data:image/svg+xml;base64,') >= 6
    assert "http://" not in page and "https://" not in page and "<script" not in page
    assert "@media print" in page


def test_malformed_file_exits_2_naming_the_line(tmp_path):
    path = tmp_path / "votes.csv"
    lines = votes_csv(KNOWN_ITEMS).splitlines()
    lines[3] = lines[3].replace(",r2,alpha,", ",r2,zeta,")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = run_cli("report", str(path))
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.startswith("error: line 4: choice 'zeta' is neither system_a 'alpha', system_b 'beta' nor 'tie'")


def test_unknown_excluded_rater_exits_2(votes_path):
    result = run_cli("report", str(votes_path), "--exclude-raters", "r1,nobody")
    assert result.returncode == 2
    assert "nobody" in result.stderr


def test_missing_file_exits_2(tmp_path):
    result = run_cli("report", str(tmp_path / "absent.csv"))
    assert result.returncode == 2
    assert "cannot read" in result.stderr


def test_json_report_additions(json_report):
    quality = pair(json_report, "quality")
    # Outcomes alpha, alpha, alpha, beta: net (3 - 1) / 4; one pair per question, so Holm leaves p as it is.
    assert quality["net_win_rate_a"] == 0.5
    assert quality["p_value_holm"] == quality["p_value"]
    assert quality["net_ci95"][0] <= 0.5 <= quality["net_ci95"][1]
    assert json_report["order_effects"] is None and json_report["rater_model"] is None
    assert json_report["raters_summary"]["raters"] == 5


@pytest.mark.parametrize(("fmt", "expected"), [("latex", r"alpha & -- & 75.0 \\"), ("markdown", "| alpha |  | 75.0 |")])
def test_paper_tables(votes_path, fmt, expected):
    result = run_cli("report", str(votes_path), "--format", fmt, "--bootstrap", "0")
    assert result.returncode == 0, result.stderr
    assert expected in result.stdout


def test_raters_csv_and_rater_model(votes_path, tmp_path):
    out, raters = tmp_path / "report.json", tmp_path / "raters.csv"
    result = run_cli("report", str(votes_path), "-o", str(out), "--bootstrap", "0", "--raters-csv", str(raters), "--rater-model")
    assert result.returncode == 0, result.stderr
    assert f"wrote the figures of 5 raters to {raters}" in result.stderr
    rows = list(csv.DictReader(io.StringIO(raters.read_text(encoding="utf-8"))))
    assert [r["rater"] for r in rows] == ["r1", "r2", "r3", "r4", "r5"]
    assert list(rows[0])[-1] == "model_reliability"
    report = json.loads(out.read_text(encoding="utf-8"))
    assert report["rater_model"]["model"] == "Dawid-Skene"
    assert all(0 < r["model_reliability"] < 1 for r in report["raters"])


def test_spreadsheet_dates_are_read_with_a_warning_on_stderr(tmp_path):
    path = tmp_path / "votes.csv"
    path.write_text(votes_csv(KNOWN_ITEMS).replace("2026-01-05T09:00:00+00:00", "05.01.2026 09:00"), encoding="utf-8")
    result = run_cli("report", str(path), "--bootstrap", "0")
    assert result.returncode == 0, result.stderr
    assert result.stderr.startswith("warning: line 2: created_at '05.01.2026 09:00' and 7 more have no timezone")
    assert json.loads(result.stdout)["summary"]["votes"] == 40


def test_semicolon_separated_file_exits_2_naming_the_delimiter(tmp_path):
    path = tmp_path / "votes.csv"
    path.write_text(votes_csv(KNOWN_ITEMS).replace(",", ";"), encoding="utf-8")
    result = run_cli("report", str(path))
    assert result.returncode == 2
    assert result.stderr.startswith("error: line 1: the columns are separated by semicolons (;), not commas")


def test_the_json_report_loads_no_plotting_or_heavy_statistics(votes_path):
    # What keeps a small study's report under two seconds: matplotlib, scipy.stats and statsmodels take
    # seconds to import and are needed only for the HTML page (or not at all).
    probe = (
        "import sys; from analysis.__main__ import main; "
        f"code = main(['report', {str(votes_path)!r}, '--format', 'json', '-o', {str(votes_path.parent / 'probe.json')!r}]); "
        "print(code, sorted({m.split('.')[0] if m.startswith(('matplotlib', 'statsmodels')) else m "
        "for m in sys.modules if m.startswith(('matplotlib', 'statsmodels', 'scipy.stats'))}))"
    )
    result = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.stdout.strip() == "0 []", result.stderr
