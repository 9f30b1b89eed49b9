"""The HTML report: data shown as text, never as markup; settings shown as given."""

import io
import re

from analysis import build_report, read_votes, render_html
from tests.support.analysis_fixtures import Item, same, votes_csv

HOSTILE = [
    Item(
        str(i),
        "<b>evil</b>",
        'quote"s & $math$',
        {"quality": [("<b>evil</b>", "x<y")] * 3 + [('quote"s & $math$', "a&b")] * 2},
        category="<i>cats</i>",
        raters=[f"<r{k}>" for k in range(5)],
    )
    for i in range(3)
]


def page(settings: dict | None = None) -> str:
    report = build_report(read_votes(io.StringIO(votes_csv(HOSTILE, study="<study>"))), bootstrap=20)
    return render_html(report, settings)


def test_names_from_the_data_are_escaped():
    html = page()
    for raw in ("<b>evil</b>", "<i>cats</i>", "<r0>", "<study>", "x<y", 'quote"s'):
        assert raw not in html
    for escaped in ("&lt;b&gt;evil&lt;/b&gt;", "&lt;i&gt;cats&lt;/i&gt;", "&lt;r0&gt;", "&lt;study&gt;", "quote&quot;s &amp; $math$"):
        assert escaped in html


def test_settings_are_shown_escaped():
    html = page(
        {
            "prompt set": "<Emu 307>",
            "systems": ["<b>evil</b>", "other"],
            "matching": {"fps": "lower", "aspect": "crop"},
            "raters per item": 5,
        }
    )
    assert "Study set-up" in html
    assert "&lt;Emu 307&gt;" in html and "<Emu 307>" not in html
    assert "<dt>fps</dt><dd>lower</dd>" in html
    assert "<dt>raters per item</dt><dd>5</dd>" in html


def test_without_settings_the_page_shows_what_the_votes_tell():
    html = page()
    assert "Study set-up" not in html
    assert "From the votes" in html
    assert "<dt>raters per item (most votes on an item)</dt><dd>5</dd>" in html


def test_the_same_report_renders_the_same_page():
    report = build_report(read_votes(io.StringIO(votes_csv(HOSTILE))), bootstrap=20)
    assert render_html(report) == render_html(report)


def three_system_page(**options) -> str:
    items = []
    for i in range(6):
        items.append(Item(f"ab{i}", "alpha", "beta", {"quality": same("alpha", 2, "sharp") + same("beta", 1, "smooth")}, prompt_id=f"p{i}"))
        items.append(Item(f"bc{i}", "beta", "gamma", {"quality": same("gamma", 3, "smooth")}, prompt_id=f"p{i}"))
    return render_html(build_report(read_votes(io.StringIO(votes_csv(items))), bootstrap=20, **options))


def test_reasons_are_shown_per_comparison_as_well_as_per_system():
    html = three_system_page()
    assert "<h3>Per comparison</h3>" in html
    assert "<h4>alpha vs beta, quality</h4>" in html and "<h4>beta vs gamma, quality</h4>" in html
    assert 'alt="Reasons behind wins, alpha vs beta, quality"' in html


def test_holm_and_net_win_rates_are_explained_and_shown():
    html = three_system_page()
    assert "Holm p: the p-value adjusted for testing all the pairs of a question at once" in html
    assert "net +100.0%" in html  # alpha won all six items against beta
    assert "Smallest detectable win rate" in html


def test_the_rater_model_section_appears_only_when_asked():
    assert "Sensitivity to rater reliability" not in three_system_page()
    html = three_system_page(rater_model=True)
    assert "Sensitivity to rater reliability" in html and "<th>model reliability</th>" in html


def test_the_page_is_self_contained_with_one_style_element_and_no_inline_style_or_script():
    """Win-rate cells are shaded by classes its own style element defines: a site serving it under a strict
    Content-Security-Policy allows that one element by hash."""
    html = page()
    assert html.count("<style>") == 1 and "style=" not in html and "<script" not in html
    style = html.split("<style>")[1].split("</style>")[0]
    shades = set(re.findall(r'<td class="((?:up|down)-\d\d)">', html))
    assert shades  # 3 of 5 votes for one side: 60% and 40%, shaded green and red
    for shade in shades:
        assert re.search(rf"td\.{shade} {{ background: rgba\([\d, ]+, 0\.\d\d\); }}", style), shade
    assert re.findall(r'<img class="chart"[^>]* src="([a-z]+):', html) == ["data"] * len(re.findall('<img class="chart"', html))
