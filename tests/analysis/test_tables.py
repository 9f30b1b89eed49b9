"""The win-rate grid as LaTeX (booktabs) and Markdown, for pasting into a paper."""

import io

import pytest

from analysis import build_report, read_votes, render_report
from tests.support.analysis_fixtures import Item, same, votes_csv


@pytest.fixture(scope="module")
def report() -> dict:
    items = []
    for i in range(20):
        # alpha beats beta 16-4 (significant after Holm), beta against the_100% 11-9, alpha vs the_100% never decided.
        items.append(Item(f"ab{i}", "alpha", "beta", {"quality": same("alpha" if i < 16 else "beta", 3)}, prompt_id=f"p{i}"))
        items.append(Item(f"bc{i}", "beta", "the_100%", {"quality": same("beta" if i < 11 else "the_100%", 3)}, prompt_id=f"p{i}"))
    items += [Item(f"ac{i}", "alpha", "the_100%", {"quality": same("tie", 3)}, prompt_id=f"p{i}") for i in range(3)]
    return build_report(read_votes(io.StringIO(votes_csv(items))), bootstrap=0)


def test_latex_grid_uses_booktabs_and_escapes_names(report):
    latex = render_report(report, "latex")
    assert latex.count(r"\begin{tabular}{lrrr}") == 1
    for rule in (r"\toprule", r"\midrule", r"\bottomrule"):
        assert latex.count(rule) == 1
    assert r" & alpha & beta & the\_100\% \\" in latex
    # Rows: the row system's win rate against each column system; * where the Holm-adjusted p is below 0.05.
    assert r"alpha & -- & 80.0$^{*}$ & n/a \\" in latex
    assert r"beta & 20.0$^{*}$ & -- & 55.0 \\" in latex
    assert r"the\_100\% & n/a & 45.0 & -- \\" in latex
    assert r"\caption{Quality: share of the decided items (\%)" in latex
    assert r"\label{tab:win-rates-quality}" in latex


def test_markdown_grid(report):
    markdown = render_report(report, "markdown")
    lines = markdown.splitlines()
    assert lines[0].startswith("**Quality**: share of the decided items (%)")
    assert lines[2] == "| wins over → | alpha | beta | the\\_100% |"
    assert lines[3] == "|---|--:|--:|--:|"
    assert lines[4] == "| alpha |  | 80.0\\* | n/a |"
    assert lines[5] == "| beta | 20.0\\* |  | 55.0 |"


def test_the_marks_follow_the_holm_adjusted_p_values(report):
    alpha_beta, beta_c, _alpha_c = report["pairs"]
    assert alpha_beta["p_value_holm"] < 0.05 <= beta_c["p_value_holm"]


def test_unknown_format_is_an_error(report):
    with pytest.raises(ValueError, match="unknown report format 'docx'"):
        render_report(report, "docx")
