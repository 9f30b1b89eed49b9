"""The win-rate grid of each question (the Table 1 of a paper) as data, LaTeX (booktabs) and Markdown.

Row system against column system: the share of the decided items whose majority preferred the
row system. A cell is marked when the difference from 50% holds after Holm's correction across
the pairs of the question; in a dynamic study, when the sequential test settled the pair.
"""

from dataclasses import dataclass

SIGNIFICANCE = 0.05
LATEX_MARK, MARKDOWN_MARK = "$^{*}$", "\\*"
LATEX_SPECIAL = {
    "\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
    "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}",
}  # fmt: skip
MARKDOWN_SPECIAL = "\\`*_[]<>|"


@dataclass(frozen=True)
class Cell:
    """One system against another on one question, from the row system's side."""

    win_rate: float | None
    ci95: list[float] | None
    net_win_rate: float | None
    won: int
    lost: int
    ties: int
    p_value: float | None
    p_value_holm: float | None
    settled: bool | None = None  # a dynamic study's sequential test settled the pair on this question

    @property
    def significant(self) -> bool:
        """Settled by the sequential test in a dynamic study (its fixed-sample p is not valid there), else Holm p below 0.05."""
        if self.settled is not None:
            return self.settled
        return self.p_value_holm is not None and self.p_value_holm < SIGNIFICANCE


def win_grid(report: dict, question: str) -> tuple[list[str], dict[tuple[str, str], Cell]]:
    """The systems compared on `question` (in report order) and a cell per (row, column) pair compared."""
    cells = {}
    for p in report["pairs"]:
        if p["question"] != question:
            continue
        settled = p["sequential"]["settled"] if "sequential" in p else None
        cells[p["system_a"], p["system_b"]] = Cell(
            p["win_rate_a"], p["ci95"], p["net_win_rate_a"], p["wins_a"], p["wins_b"], p["ties"], p["p_value"], p["p_value_holm"], settled
        )
        cells[p["system_b"], p["system_a"]] = Cell(
            None if p["win_rate_a"] is None else 1 - p["win_rate_a"],
            None if p["ci95"] is None else [1 - p["ci95"][1], 1 - p["ci95"][0]],
            None if p["net_win_rate_a"] is None else -p["net_win_rate_a"],
            p["wins_b"], p["wins_a"], p["ties"], p["p_value"], p["p_value_holm"], settled,
        )  # fmt: skip
    shown = [s for s in report["summary"]["systems"] if any(s in key for key in cells)]
    return shown, cells


def render_latex(report: dict) -> str:
    """One booktabs table per question (needs \\usepackage{booktabs})."""
    parts = ["% Win rates (JUICE). Needs \\usepackage{booktabs}."]
    design = report.get("design")
    for question in report["summary"]["questions"]:
        systems, cells = win_grid(report, question)
        header = " & ".join(["", *(_latex(s) for s in systems)]) + r" \\"
        rows = [
            " & ".join([_latex(row), *(_latex_cell(cells.get((row, column)), row == column) for column in systems)]) + r" \\"
            for row in systems
        ]
        parts += [
            r"\begin{table}[t]",
            r"\centering",
            r"\caption{" + _latex(_label(question)) + ": " + _caption(LATEX_MARK, percent=r"\%", less="$<$", design=design) + "}",
            rf"\label{{tab:win-rates-{_slug(question)}}}",
            rf"\begin{{tabular}}{{l{'r' * len(systems)}}}",
            r"\toprule",
            header,
            r"\midrule",
            *rows,
            r"\bottomrule",
            r"\end{tabular}",
            r"\end{table}",
            "",
        ]
    return "\n".join(parts)


def render_markdown(report: dict) -> str:
    """One pipe table per question, each under its question's name."""
    parts = []
    for question in report["summary"]["questions"]:
        systems, cells = win_grid(report, question)
        parts += [
            f"**{_markdown(_label(question))}**: " + _caption(MARKDOWN_MARK, percent="%", less="<", design=report.get("design")),
            "",
            "| " + " | ".join(["wins over →", *(_markdown(s) for s in systems)]) + " |",
            "|" + "---|" + "--:|" * len(systems),
            *(
                "| " + " | ".join([_markdown(row), *(_markdown_cell(cells.get((row, column)), row == column) for column in systems)]) + " |"
                for row in systems
            ),
            "",
        ]
    return "\n".join(parts)


def _caption(mark: str, percent: str, less: str, design: dict | None = None) -> str:
    share = (
        f"share of the decided items ({percent}) whose majority preferred the row system over the column system, ties left out; "
    )
    if design and design["dynamic"]:
        # The fixed-sample test is not valid when pairs stopped on their evidence: mark what the sequential test settled.
        return share + (
            f"{mark} marks a pair settled by the sequential test of this dynamic study (family-wise alpha {design['alpha']} "
            f"across the pairs of this question), where a pair stopped receiving items once settled; the shares may lean "
            f"away from 50{percent}, as a pair stopped when its lead was large."
        )
    return share + (
        f"{mark} marks a difference from 50{percent} with Holm-adjusted p {less} {SIGNIFICANCE} (two-sided exact binomial test, "
        "adjusted across the pairs of this question)."
    )


def _latex_cell(cell: Cell | None, diagonal: bool) -> str:
    if diagonal:
        return "--"
    return _cell_text(cell, LATEX_MARK)


def _markdown_cell(cell: Cell | None, diagonal: bool) -> str:
    return "" if diagonal else _cell_text(cell, MARKDOWN_MARK)


def _cell_text(cell: Cell | None, mark: str) -> str:
    """The win rate in percent with the significance mark; empty for a pair never compared, n/a with no decided item."""
    if cell is None:
        return ""
    if cell.win_rate is None:
        return "n/a"
    return f"{100 * cell.win_rate:.1f}" + (mark if cell.significant else "")


def _latex(text: str) -> str:
    return "".join(LATEX_SPECIAL.get(ch, ch) for ch in text)


def _markdown(text: str) -> str:
    return "".join("\\" + ch if ch in MARKDOWN_SPECIAL else ch for ch in text).replace("\n", " ")


def _label(question: str) -> str:
    return question.replace("_", " ").capitalize()


def _slug(question: str) -> str:
    return "".join(ch if ch.isalnum() else "-" for ch in question.lower())
