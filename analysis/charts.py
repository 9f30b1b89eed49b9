"""The report's plots, drawn with matplotlib's Agg canvas (no display, no pyplot state) and
returned as self-contained SVG data URIs: vector graphics stay sharp on paper."""

import base64
import io
import textwrap

import matplotlib
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

STYLE = {
    "font.size": 9,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "svg.fonttype": "path",
    # The same report always gives the same file.
    "svg.hashsalt": "juice",
    # System names and reasons are data: a '$' in them is text, not mathematics.
    "text.parse_math": False,
}
COLORS = matplotlib.colormaps["tab10"].colors
WIDTH = 7.0  # inches: the width of a printed page's text


def system_colors(systems: list[str]) -> dict[str, tuple]:
    return {system: COLORS[i % len(COLORS)] for i, system in enumerate(systems)}


def win_rate_bars(pairs: list[dict]) -> str:
    """Win rate of system_a per pair with its Wilson interval, against the 50% line."""
    labels = [f"{p['system_a']} vs {p['system_b']}" for p in pairs]
    rates = np.array([np.nan if p["win_rate_a"] is None else p["win_rate_a"] for p in pairs]) * 100
    low = np.array([np.nan if p["ci95"] is None else p["ci95"][0] for p in pairs]) * 100
    high = np.array([np.nan if p["ci95"] is None else p["ci95"][1] for p in pairs]) * 100
    with matplotlib.rc_context(STYLE):
        fig, ax = _figure(height=0.9 + 0.32 * len(pairs))
        y = np.arange(len(pairs))[::-1]
        ax.barh(y, np.nan_to_num(rates), color=COLORS[0], height=0.6)
        # A clean sweep's Wilson bound can land a rounding error past its rate (7 of 7: high 0.9999999999999999).
        errors = np.clip([rates - low, high - rates], 0, None)
        ax.errorbar(rates, y, xerr=errors, fmt="none", ecolor="black", capsize=3, linewidth=1)
        ax.axvline(50, color="grey", linestyle="--", linewidth=1)
        ax.set_yticks(y, labels)
        ax.set_xlim(0, 100)
        ax.set_xlabel("items won by the first system, % of decided items (95% Wilson interval)")
        return _data_uri(fig)


def ranking_plot(ranking: list[dict], colors: dict[str, tuple]) -> str:
    """Elo ratings with their bootstrap intervals, best at the top."""
    with matplotlib.rc_context(STYLE):
        fig, ax = _figure(height=0.9 + 0.32 * len(ranking))
        y = np.arange(len(ranking))[::-1]
        for yi, entry in zip(y, ranking, strict=True):
            ax.plot(entry["rating"], yi, "o", color=colors[entry["system"]])
            if entry["ci95"] is not None:
                low, high = entry["ci95"]
                ax.plot([low, high], [yi, yi], color=colors[entry["system"]], linewidth=2)
        ax.axvline(1000, color="grey", linestyle="--", linewidth=1)
        ax.set_yticks(y, [entry["system"] for entry in ranking])
        ax.set_ylim(-0.7, len(ranking) - 0.3)
        ax.set_xlabel("Bradley-Terry rating, Elo scale (mean 1000), 95% bootstrap interval")
        return _data_uri(fig)


def reason_bars(shares: dict[str, dict[str, float | None]], colors: dict[str, tuple]) -> str:
    """For each system, among the votes behind its wins, the share that ticked each reason."""
    systems = [s for s, by_reason in shares.items() if any(v is not None for v in by_reason.values())]
    reasons = sorted({r for s in systems for r in shares[s]})
    with matplotlib.rc_context(STYLE):
        fig, ax = _figure(height=2.6)
        width = 0.8 / max(1, len(systems))
        x = np.arange(len(reasons))
        for i, system in enumerate(systems):
            values = [100 * (shares[system].get(r) or 0) for r in reasons]
            ax.bar(x + (i - (len(systems) - 1) / 2) * width, values, width, label=system, color=colors[system])
        ax.set_xticks(x, [textwrap.fill(r.replace("_", " "), 14) for r in reasons])
        ax.set_ylim(0, 100)
        ax.set_ylabel("% of votes for the winner")
        ax.legend(frameon=False, fontsize=8, ncols=min(4, max(1, len(systems))), loc="upper center", bbox_to_anchor=(0.5, 1.18))
        return _data_uri(fig)


def split_bars(pairs: list[dict]) -> str:
    """How the votes of each pair's items split, as stacked shares of its items."""
    keys = list(dict.fromkeys(key for p in pairs for key in p["vote_splits"]))
    labels = [f"{p['system_a']} vs {p['system_b']}, {p['question']}" for p in pairs]
    with matplotlib.rc_context(STYLE):
        fig, ax = _figure(height=1.1 + 0.32 * len(pairs))
        y = np.arange(len(pairs))[::-1]
        left = np.zeros(len(pairs))
        colormap = matplotlib.colormaps["viridis"]
        for i, key in enumerate(keys):
            values = np.array([100 * p["vote_splits"].get(key, 0) / max(1, p["items"]) for p in pairs])
            ax.barh(y, values, left=left, height=0.6, label=key, color=colormap(i / max(1, len(keys) - 1)))
            left += values
        ax.set_yticks(y, labels)
        ax.set_xlim(0, 100)
        ax.set_xlabel("% of items, by how the votes split")
        ax.legend(frameon=False, fontsize=8, ncols=min(6, len(keys)), loc="lower center", bbox_to_anchor=(0.5, 1.0))
        return _data_uri(fig)


def _figure(height: float) -> tuple[Figure, "matplotlib.axes.Axes"]:
    fig = Figure(figsize=(WIDTH, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig, fig.add_subplot()


def _data_uri(fig: Figure) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="svg", metadata={"Date": None})
    return "data:image/svg+xml;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")
