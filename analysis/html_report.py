"""The report as one self-contained HTML page, readable on screen and on paper.

Every piece of text that comes from data (system names, questions, reasons, categories, rater
ids, settings) goes through `html.escape`; plots are inline SVG data URIs.
"""

import html
from collections.abc import Iterable

from analysis import charts, tables

FOLDED_RATERS = 50  # more raters than this: the per-rater table starts folded
HOLM_NOTE = (
    "Holm p: the p-value adjusted for testing all the pairs of a question at once (Holm's method). Where it is below "
    "0.05, the chance that any pair of that question is called different when none is stays below 5%; the plain p "
    "holds only for a pair looked at on its own."
)

CSS = """
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #1b1b1b; margin: 0 auto;
       max-width: 1100px; padding: 1.5rem; }
h1 { font-size: 1.6rem; margin-bottom: 0.2rem; }
h2 { font-size: 1.25rem; border-bottom: 1px solid #ccc; padding-bottom: 0.2rem; margin-top: 2rem; }
h3 { font-size: 1.05rem; margin-bottom: 0.4rem; }
h4 { font-size: 0.95rem; margin: 1rem 0 0.3rem; }
p.note { color: #555; font-size: 0.9rem; max-width: 60rem; }
table { border-collapse: collapse; margin: 0.5rem 0 1rem; font-variant-numeric: tabular-nums; }
th, td { border: 1px solid #d0d0d0; padding: 0.25rem 0.55rem; text-align: right; vertical-align: top; }
th { background: #f3f3f3; text-align: left; }
td.text { text-align: left; }
td.empty { color: #999; text-align: center; }
td small { color: #555; }
img.chart { display: block; max-width: 100%; height: auto; margin: 0.5rem 0 1rem; }
dl.settings { display: grid; grid-template-columns: max-content 1fr; gap: 0.2rem 1rem; }
dl.settings dt { font-weight: 600; }
dl.settings dd { margin: 0; }
details summary { cursor: pointer; }
@media print {
  @page { margin: 15mm; }
  body { font-size: 10pt; max-width: none; padding: 0; }
  h2 { break-after: avoid; }
  h3, h4 { break-after: avoid; }
  table, img.chart, figure { break-inside: avoid; }
  thead { display: table-header-group; }
  th { background: #eee !important; print-color-adjust: exact; -webkit-print-color-adjust: exact; }
  td { print-color-adjust: exact; -webkit-print-color-adjust: exact; }
  section.raters { break-before: page; }
}
"""


def render_html(report: dict, settings: dict | None = None) -> str:
    """The report as a standalone HTML page.

    settings: what the study was set up with (e.g. prompt set, systems, matching policy,
    raters per item), shown as given next to what the votes themselves tell.
    """
    summary = report["summary"]
    colors = charts.system_colors(summary["systems"])
    title = "Human evaluation: " + ", ".join(summary["studies"]) if summary["studies"] else "Human evaluation"
    shades: set[str] = set()  # the win-rate cells' shades, each a class of the page's one style element
    parts = [
        f"<h1>{_e(title)}</h1>",
        f'<p class="note">{summary["votes"]:,} votes on {summary["items"]:,} items by {summary["raters"]:,} raters. '
        "Each item is one prompt judged between two systems' videos; its outcome is the majority of its votes.</p>",
    ]
    if not report["pairs"]:
        parts.append("<p>No votes yet.</p>")
    else:
        parts += _dynamic(report)
        parts += _win_rates(report, shades)
        parts += _ranking(report, colors)
        parts += _reasons(report, colors)
        parts += _agreement(report)
        parts += _categories(report)
        parts += _rater_behaviour(report)
        parts += _rater_model(report)
    parts += _settings(report, settings)
    head = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{_e(title)}</title><style>{CSS}{''.join(_shade_rule(name) for name in sorted(shades))}</style></head><body>",
    ]
    return "\n".join([*head, *parts, "</body></html>"])


def _win_rates(report: dict, shades: set[str]) -> list[str]:
    parts = [
        "<section><h2>Win rates</h2>",
        '<p class="note">Share of the decided items (ties left out) whose majority preferred the row system over the '
        "column system, its 95% Wilson interval, the items won and lost, the net win rate (items won minus items lost, "
        "over all items, ties included, with its 95% bootstrap interval over prompts), and p, the two-sided exact "
        "binomial test against 50%.</p>",
        f'<p class="note">{HOLM_NOTE}</p>',
        *_samples_note(report.get("samples")),
    ]
    if _is_dynamic(report):
        parts.append(
            '<p class="note"><strong>This study was dynamic:</strong> these intervals and p-values assume a number of items '
            "fixed in advance and are not valid under its design; see Dynamic evaluation above.</p>"
        )
    for question in report["summary"]["questions"]:
        shown, cells = tables.win_grid(report, question)
        rows = []
        for row in shown:
            tds = [f'<th class="row" scope="row">{_e(row)}</th>']
            tds += [_win_cell(cells.get((row, column)), shades) for column in shown]
            rows.append("<tr>" + "".join(tds) + "</tr>")
        header = "".join(f'<th scope="col">{_e(s)}</th>' for s in shown)
        pairs = [p for p in report["pairs"] if p["question"] == question]
        parts += [
            f"<h3>{_e(_question_label(question))}</h3>",
            f"<table><thead><tr><th>wins over →</th>{header}</tr></thead><tbody>{''.join(rows)}</tbody></table>",
            f'<img class="chart" alt="Win rates with 95% intervals, {_e(question)}" src="{charts.win_rate_bars(pairs)}">',
            _detectable(pairs, report["planning"]),
        ]
    parts.append("</section>")
    return parts


def _is_dynamic(report: dict) -> bool:
    return bool(report.get("design") and report["design"]["dynamic"])


def _dynamic(report: dict) -> list[str]:
    """A dynamic study's design and each pair's sequential figures (analysis/dynamic.py)."""
    if not _is_dynamic(report):
        return []
    design = report["design"]
    rows = "".join(
        f'<tr><td class="text">{_e(p["system_a"])} vs {_e(p["system_b"])}</td><td class="text">{_e(p["question"])}</td>'
        f'<td class="text">{_e(_sequential_state(p["sequential"]))}</td><td>{_percent(p["win_rate_a"])}</td>'
        f"<td>{_interval(p['sequential']['interval'])}</td><td>{_p_value(p['sequential']['repeated_p'])}</td>"
        f"<td>{_p_value(p['sequential']['repeated_p_holm'])}</td></tr>"
        for p in report["pairs"]
    )
    voted = {frozenset((p["system_a"], p["system_b"])) for p in report["pairs"]}
    waiting = [f"{p['system_a']} vs {p['system_b']}" for p in design["pairs"] if frozenset((p["system_a"], p["system_b"])) not in voted]
    return [
        "<section><h2>Dynamic evaluation</h2>",
        f'<p class="note">{_e(design["notes"])}</p>',
        f'<p class="note">Rule: {_e(design["rule"])}; rho {design["rho"]:g}, alpha {design["alpha"]:g}'
        + (", ranking (a pair whose order settled pairs imply by transitivity is not needed)" if design["ranking"] else "")
        + (f", burn-in {design['burn_in']:g} of each pair's items" if design.get("burn_in") else "")
        + f". Repeated intervals at alpha / pairs = {design['interval_level']:.4g}. Drift check: a settlement whose early and "
        f"late halves of items (in finish order) disagree (Fisher's exact test at {design.get('drift_level', 0.05):g}) is "
        "flagged: raters may have changed while it ran.</p>",
        "<table><thead><tr><th>pair</th><th>question</th><th>sequential test</th><th>win rate (point estimate)</th>"
        "<th>repeated interval</th><th>repeated p</th><th>Holm repeated p</th></tr></thead>"
        f"<tbody>{rows}</tbody></table>",
        f'<p class="note">No votes yet: {_e("; ".join(waiting))}.</p>' if waiting else "",
        "</section>",
    ]


def _sequential_state(figures: dict) -> str:
    if figures["settled"]:
        state = f"{figures['direction']} better: settled at item {figures['at_item']} of {figures['cap']}"
        if figures.get("drift_flagged"):
            return f"{state}; DRIFT: its early and late items disagree (p {figures['drift_p']:.2g})"
        if figures.get("drift_p") is not None:
            return f"{state}; early and late items agree (drift p {figures['drift_p']:.2g})"
        return state
    if figures["status"] == "not needed":
        return f"not needed: settled pairs imply its order ({figures['items_finished']} of {figures['cap']} items)"
    if figures["items_finished"] >= figures["cap"]:
        return f"not settled: all {figures['cap']} items finished"
    return f"{figures['status']}: {figures['items_finished']} of {figures['cap']} items finished"


def _p_value(value: float) -> str:
    return "&lt; 0.001" if value < 0.001 else f"{value:.3f}"


def _samples_note(samples: dict | None) -> list[str]:
    """With several samples per prompt, how the win rates' intervals and tests treat them."""
    if samples is None:
        return []
    counted = "each sample's item counts" if samples["unit"] == "item" else "each prompt's samples count as their majority"
    return [
        f'<p class="note">Several samples per prompt (up to {samples["per_prompt"]}): {counted}; the prompt is the unit of '
        f'the interval ({_e(samples["ci95"])}) and of p ({_e(samples["p_value"])}).</p>'
    ]


def _win_cell(cell: tables.Cell | None, shades: set[str]) -> str:
    if cell is None:
        return '<td class="empty">&ndash;</td>'
    shade = ""
    if cell.win_rate is not None:
        shades.add(name := _shade(cell.win_rate))
        shade = f' class="{name}"'
    return (
        f"<td{shade}><strong>{_percent(cell.win_rate)}</strong><br><small>{_interval(cell.ci95)}<br>"
        f"{cell.won}&ndash;{cell.lost}{f' ({cell.ties} ties)' if cell.ties else ''}, p {_p(cell.p_value)}, "
        f"Holm p {_p(cell.p_value_holm)}<br>net {_signed(cell.net_win_rate)}</small></td>"
    )


def _detectable(pairs: list[dict], planning: dict) -> str:
    rows = "".join(
        f'<tr><td class="text">{_e(p["system_a"])} vs {_e(p["system_b"])}</td><td>{p["wins_a"] + p["wins_b"]:,}</td>'
        f"<td>{_percent(p['detectable_win_rate'])}</td><td>{_signed(p['net_win_rate_a'])}</td>"
        f"<td>{_signed_interval(p['net_ci95'])}</td></tr>"
        for p in pairs
    )
    return (
        f'<p class="note">Smallest detectable win rate: with this many decided items, the win rate that the exact test at '
        f"alpha {planning['alpha']} would detect with {100 * planning['power']:.0f}% power; a smaller true difference could "
        "well go unnoticed (<code>python -m analysis plan</code> sizes a study).</p>"
        "<table><thead><tr><th>pair</th><th>decided items</th><th>smallest detectable win rate</th><th>net win rate</th>"
        f"<th>net 95% interval</th></tr></thead><tbody>{rows}</tbody></table>"
    )


def _ranking(report: dict, colors: dict) -> list[str]:
    resamples = report["settings"]["bootstrap"]
    parts = [
        "<section><h2>Ranking</h2>",
        '<p class="note">Bradley-Terry ratings fitted to the item outcomes of all pairs (a tie counts half a win each way), '
        "on the Elo scale: a 100-point lead means winning about 64% of items. Ratings average 1000. "
        + (f"Intervals are the 2.5% and 97.5% percentiles over {resamples:,} bootstrap resamples of prompts.</p>" if resamples else "</p>"),
    ]
    for question, ranking in report["ranking"].items():
        rows = "".join(
            f'<tr><td>{i}</td><td class="text">{_e(entry["system"])}</td><td>{entry["rating"]:.0f}</td>'
            f"<td>{_rating_interval(entry['ci95'])}</td></tr>"
            for i, entry in enumerate(ranking, start=1)
        )
        parts += [
            f"<h3>{_e(_question_label(question))}</h3>",
            f"<table><thead><tr><th>#</th><th>system</th><th>rating</th><th>95% interval</th></tr></thead><tbody>{rows}</tbody></table>",
            f'<img class="chart" alt="Ratings with 95% intervals, {_e(question)}" src="{charts.ranking_plot(ranking, colors)}">',
        ]
    parts.append("</section>")
    return parts


def _reasons(report: dict, colors: dict) -> list[str]:
    parts = [
        "<section><h2>Why systems win</h2>",
        '<p class="note">For each system, over the items it won (all its pairs), among the votes for it: the share that '
        "ticked each reason. A vote may tick several reasons.</p>",
    ]
    for question, shares in report["reasons_by_system"].items():
        if _no_reasons(shares):
            continue  # no system won an item on this question
        parts += [
            f"<h3>{_e(_question_label(question))}</h3>",
            f'<img class="chart" alt="Reasons behind wins, {_e(question)}" src="{charts.reason_bars(shares, colors)}">',
            _reason_table(shares),
        ]
    pairs = [p for p in report["pairs"] if not _no_reasons(p["reasons"])]
    if pairs:
        parts.append(
            "<h3>Per comparison</h3>"
            '<p class="note">The same shares for each pair on its own: over the items a system won against this opponent, '
            "among the votes for it.</p>"
        )
    for p in pairs:
        title = f"{p['system_a']} vs {p['system_b']}, {p['question'].replace('_', ' ')}"
        parts += [
            f"<h4>{_e(title)}</h4>",
            f'<img class="chart" alt="Reasons behind wins, {_e(title)}" src="{charts.reason_bars(p["reasons"], colors)}">',
            _reason_table(p["reasons"]),
        ]
    parts.append("</section>")
    return parts


def _no_reasons(shares: dict[str, dict[str, float | None]]) -> bool:
    return all(value is None for by_reason in shares.values() for value in by_reason.values())


def _reason_table(shares: dict[str, dict[str, float | None]]) -> str:
    reasons = sorted({r for by_reason in shares.values() for r in by_reason})
    header = "".join(f'<th scope="col">{_e(r.replace("_", " "))}</th>' for r in reasons)
    rows = "".join(
        f'<tr><th class="row" scope="row">{_e(system)}</th>' + "".join(f"<td>{_percent(by_reason.get(r))}</td>" for r in reasons) + "</tr>"
        for system, by_reason in shares.items()
    )
    return f"<table><thead><tr><th>system</th>{header}</tr></thead><tbody>{rows}</tbody></table>"


def _agreement(report: dict) -> list[str]:
    split = [p for p in report["pairs"] if p["vote_splits"] is not None]
    keys = list(dict.fromkeys(key for p in split for key in p["vote_splits"]))
    header = "".join(f'<th scope="col">{_e(key)}</th>' for key in keys)
    rows = "".join(
        f'<tr><td class="text">{_e(p["system_a"])} vs {_e(p["system_b"])}</td><td class="text">{_e(p["question"])}</td>'
        f"<td>{p['items']:,}</td>"
        + "".join(_count(None if p["vote_splits"] is None else p["vote_splits"].get(key, 0)) for key in keys)
        + f"<td>{_percent(p['agreement']['percent_unanimous'])}</td>"
        + "".join(_number(p["agreement"][c]) for c in ("fleiss_kappa", "krippendorff_alpha", "gwet_ac1"))
        + "</tr>"
        for p in report["pairs"]
    )
    early_stop = any(p["agreement"].get("early_stop") for p in report["pairs"])
    return [
        "<section><h2>Agreement between raters</h2>",
        f'<p class="note">Vote splits count items by how their {report["summary"]["raters_per_item"]} votes divided. '
        "Fleiss' kappa uses the items with the full rater count; Krippendorff's alpha (nominal) and Gwet's AC1 all items. "
        "A coefficient undefined on the data (e.g. every vote for one system, or one rater per item) shows as &ndash;."
        + (
            " Items of this study stopped receiving raters once their outcome was decided, so these figures are not "
            "comparable with agreement over full rater counts, and Fleiss' kappa is not given."
            if early_stop
            else ""
        )
        + "</p>",
        f"<table><thead><tr><th>pair</th><th>question</th><th>items</th>{header}<th>unanimous</th><th>Fleiss &kappa;</th>"
        f"<th>Krippendorff &alpha;</th><th>Gwet AC1</th></tr></thead><tbody>{rows}</tbody></table>",
        f'<img class="chart" alt="Vote splits per pair" src="{charts.split_bars(split)}">' if split else "",
        "</section>",
    ]


def _categories(report: dict) -> list[str]:
    categories = sorted({c for p in report["pairs"] for c in p["by_category"]})
    if categories in ([], [""]):
        return []
    header = "".join(f'<th scope="col">{_e(c or "(none)")}</th>' for c in categories)
    rows = []
    for p in report["pairs"]:
        cells = []
        for c in categories:
            figures = p["by_category"].get(c)
            cells.append(
                '<td class="empty">&ndash;</td>'
                if figures is None
                else f"<td>{_percent(figures['win_rate_a'])}<br><small>{figures['wins_a']}&ndash;{figures['wins_b']}</small></td>"
            )
        rows.append(
            f'<tr><td class="text">{_e(p["system_a"])} vs {_e(p["system_b"])}</td><td class="text">{_e(p["question"])}</td>'
            + "".join(cells)
            + "</tr>"
        )
    return [
        "<section><h2>By category</h2>",
        '<p class="note">Win rate of the first system of each pair within each prompt category.</p>',
        f"<table><thead><tr><th>pair</th><th>question</th>{header}</tr></thead><tbody>{''.join(rows)}</tbody></table>",
        "</section>",
    ]


def _rater_behaviour(report: dict) -> list[str]:
    bias_rows = "".join(
        f'<tr><td class="text">{_e(question)}</td><td>{figures["votes"]:,}</td><td>{_percent(figures["share_left"])}</td>'
        f"<td>{_interval(figures['ci95'])}</td></tr>"
        for question, figures in report["position_bias"].items()
    )
    modelled = report["rater_model"] is not None
    rater_rows = "".join(
        f'<tr><td class="text">{_e(r["rater"])}</td><td>{r["votes"]:,}</td><td>{r["items"]:,}</td>'
        f"<td>{_seconds(r['median_watch_ms'])}</td>"
        f"<td>{_percent(r['share_left'])}</td><td>{_percent(r['majority_agreement'])}</td>"
        + (f"<td>{_percent(r.get('model_reliability'))}</td>" if modelled else "")
        + "</tr>"
        for r in report["raters"]
    )
    summary = report["raters_summary"]
    listed = (
        f"{summary['raters']:,} raters"
        if summary["listed"] == summary["raters"]
        else f"{summary['listed']:,} of {summary['raters']:,} raters ({_e(summary['listed_by'])}; the per-rater CSV has them all)"
    )
    return [
        '<section class="raters"><h2>Raters</h2>',
        '<p class="note">Position bias: among votes for a system (ties left out), the share that chose the video shown on the '
        "left; placement is random, so far from 50% means raters favour a side.</p>",
        "<table><thead><tr><th>question</th><th>votes</th><th>chose left</th><th>95% interval</th></tr></thead>"
        f"<tbody>{bias_rows}</tbody></table>",
        *_order_effects(report["order_effects"]),
        # A long table stays folded (on paper too) until opened.
        f"<details{' open' if len(report['raters']) <= FOLDED_RATERS else ''}><summary>{listed}</summary>",
        '<p class="note">A rater who rarely agrees with the majority, always picks one side or barely watches may have '
        "answered carelessly; the analysis can leave such raters out (<code>--exclude-raters</code>).</p>",
        "<table><thead><tr><th>rater</th><th>votes</th><th>items</th><th>median watch</th><th>chose left</th>"
        f"<th>with the majority</th>{'<th>model reliability</th>' if modelled else ''}</tr></thead>"
        f"<tbody>{rater_rows}</tbody></table></details>",
        "</section>",
    ]


def _order_effects(effects: dict | None) -> list[str]:
    if effects is None:
        return []
    rows = "".join(
        f'<tr><td class="text">{_e(question)}</td><td>{q["quartile"]}</td><td>{q["votes"]:,}</td>'
        f"<td>{_percent(q['share_majority'])}</td><td>{_percent(q['share_left'])}</td></tr>"
        for question, quartiles in effects.items()
        for q in quartiles
    )
    return [
        '<p class="note">Order effects: each rater\'s items in the order they were shown, split into quarters. A share with '
        "the majority that falls in later quarters suggests fatigue; a share for the left video that drifts suggests a "
        "habit forming.</p>",
        "<table><thead><tr><th>question</th><th>quarter of the sequence</th><th>votes</th><th>with the majority</th>"
        f"<th>chose left</th></tr></thead><tbody>{rows}</tbody></table>",
    ]


def _rater_model(report: dict) -> list[str]:
    model = report["rater_model"]
    if model is None:
        return []
    pairs = "".join(
        f'<tr><td class="text">{_e(p["system_a"])} vs {_e(p["system_b"])}</td><td class="text">{_e(p["question"])}</td>'
        f"<td>{p['wins_a']}&ndash;{p['wins_b']}</td><td>{p['ties']}</td><td>{_percent(p['win_rate_a'])}</td>"
        f"<td>{p['items_changed']:,}</td></tr>"
        for p in model["pairs"]
    )
    changed = "".join(
        f'<tr><td class="text">{_e(c["item"])}</td><td class="text">{_e(c["question"])}</td>'
        f'<td class="text">{_e(c["system_a"])} vs {_e(c["system_b"])}</td>'
        f'<td class="text">{_e(" / ".join(f"{k} {v}" for k, v in c["votes"].items()))}</td>'
        f'<td class="text">{_e(c["majority"])}</td><td class="text">{_e(c["model"])}</td><td>{_percent(c["posterior"])}</td></tr>'
        for c in model["changed_items"]
    )
    return [
        "<section><h2>Sensitivity to rater reliability</h2>",
        f'<p class="note">The {_e(model["model"])} model estimates how reliable each rater is and weighs their votes '
        f"accordingly, instead of counting every vote once. It changes {model['items_changed']:,} outcomes (an item on one "
        "question) from the majority's; a conclusion that holds under both does not rest on careless raters.</p>",
        "<table><thead><tr><th>pair</th><th>question</th><th>won&ndash;lost</th><th>ties</th><th>win rate</th>"
        f"<th>outcomes changed</th></tr></thead><tbody>{pairs}</tbody></table>",
        f"<details><summary>{len(model['changed_items']):,} changed outcomes</summary>"
        "<table><thead><tr><th>item</th><th>question</th><th>pair</th><th>votes</th><th>majority</th><th>model</th>"
        f"<th>posterior</th></tr></thead><tbody>{changed}</tbody></table></details>",
        "</section>",
    ]


def _settings(report: dict, settings: dict | None) -> list[str]:
    summary = report["summary"]
    observed = {
        "studies": summary["studies"],
        "systems": summary["systems"],
        "questions": summary["questions"],
        "raters per item (most votes on an item)": summary["raters_per_item"],
        "no-preference votes": "allowed" if summary["allow_tie"] else "not offered (forced choice)",
        "votes / items / raters": f"{summary['votes']:,} / {summary['items']:,} / {summary['raters']:,}",
        "bootstrap resamples": report["settings"]["bootstrap"],
        "random seed": report["settings"]["seed"],
        "excluded raters": report["settings"]["excluded_raters"] or "none",
    }
    parts = ["<section><h2>Settings</h2>"]
    if settings:
        parts += ["<h3>Study set-up</h3>", _definitions(settings)]
    parts += ["<h3>From the votes</h3>", _definitions(observed), "</section>"]
    return parts


def _definitions(values: dict) -> str:
    return '<dl class="settings">' + "".join(f"<dt>{_e(str(key))}</dt><dd>{_value(value)}</dd>" for key, value in values.items()) + "</dl>"


def _value(value: object) -> str:
    if isinstance(value, dict):
        return _definitions(value) if value else "&ndash;"
    if isinstance(value, Iterable) and not isinstance(value, str):
        return ", ".join(_e(str(v)) for v in value) or "&ndash;"
    return _e(str(value))


def _question_label(question: str) -> str:
    return question.replace("_", " ").capitalize()


def _shade(rate: float) -> str:
    """The class of a win-rate cell: green above 50%, red below, stronger further away (`up-23` is green at
    0.23 opacity). Classes, not style attributes: a page served under a Content-Security-Policy that
    allows its one style element (by hash) needs no other inline style."""
    strength = round(min(1.0, abs(rate - 0.5) * 2) * 45)
    return f"up-{strength:02d}" if rate >= 0.5 else f"down-{strength:02d}"


def _shade_rule(name: str) -> str:
    direction, strength = name.split("-")
    color = "46, 160, 67" if direction == "up" else "215, 58, 73"
    return f"\ntd.{name} {{ background: rgba({color}, {int(strength) / 100:.2f}); }}"


def _percent(value: float | None) -> str:
    return "&ndash;" if value is None else f"{100 * value:.1f}%"


def _interval(ci: list[float] | None) -> str:
    return "&ndash;" if ci is None else f"{_percent(ci[0])} to {_percent(ci[1])}"


def _signed(value: float | None) -> str:
    return "&ndash;" if value is None else f"{100 * value:+.1f}%"


def _signed_interval(ci: list[float] | None) -> str:
    return "&ndash;" if ci is None else f"{_signed(ci[0])} to {_signed(ci[1])}"


def _rating_interval(ci: list[float] | None) -> str:
    return "&ndash;" if ci is None else f"{ci[0]:.0f} to {ci[1]:.0f}"


def _seconds(ms: float | None) -> str:
    return "&ndash;" if ms is None else f"{ms / 1000:.1f} s"


def _count(value: int | None) -> str:
    return '<td class="empty">&ndash;</td>' if value is None else f"<td>{value:,}</td>"


def _number(value: float | None) -> str:
    return '<td class="empty">&ndash;</td>' if value is None else f"<td>{value:.3f}</td>"


def _p(value: float | None) -> str:
    if value is None:
        return "&ndash;"
    return "< 0.001" if value < 0.001 else f"= {value:.3f}"


def _e(text: str) -> str:
    return html.escape(text, quote=True)
