"""PNG plots of an output's stats (matplotlib, without pyplot's global state)."""

from __future__ import annotations

import os

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from relxdata.stats import HistogramSpec, OutputStats

# Bars beyond this many would be unreadable; the title says how many were left out.
MAX_BARS = 40
COLOR = "#3b6ea8"


def _save(figure: Figure, path: str) -> None:
    FigureCanvasAgg(figure)
    figure.tight_layout()
    temporary = path + ".inprogress"
    # No software version in the file: the same stats give the same bytes.
    figure.savefig(temporary, format="png", dpi=100, metadata={"Software": None})
    os.replace(temporary, path)


def bar_chart(counts: dict[str, int], title: str, rows_label: str, path: str) -> None:
    """Horizontal bars, largest first, the count written at each bar's end."""
    shown = list(counts.items())[:MAX_BARS]
    if len(counts) > len(shown):
        title += f" (the {len(shown)} largest of {len(counts)})"
    figure = Figure(figsize=(8, 1.2 + 0.28 * len(shown)))
    axes = figure.add_subplot()
    labels = [str(name) for name, _ in shown][::-1]
    values = [count for _, count in shown][::-1]
    bars = axes.barh(labels, values, color=COLOR)
    axes.bar_label(bars, labels=[f"{value:,}" for value in values], padding=3, fontsize=8)
    axes.set_title(title)
    axes.set_xlabel(rows_label)
    axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes.margins(x=0.12)
    axes.spines[["top", "right"]].set_visible(False)
    _save(figure, path)


def histogram_chart(bins: list[tuple[int, int]], spec: HistogramSpec, rows_label: str, path: str) -> None:
    """Bars of `spec.width` from each bin's start; the last bin, from `spec.cap` up, is labelled as such."""
    figure = Figure(figsize=(8, 3.6))
    axes = figure.add_subplot()
    axes.bar([start for start, _ in bins], [count for _, count in bins], width=spec.width * 0.9, align="edge",
             color=COLOR)
    if bins and bins[-1][0] >= spec.cap:
        axes.annotate(f"≥ {spec.cap}", (spec.cap + spec.width / 2, bins[-1][1]), ha="center", va="bottom",
                      fontsize=8)
    axes.set_title(spec.title)
    axes.set_xlabel(spec.unit)
    axes.set_ylabel(rows_label)
    axes.yaxis.set_major_locator(MaxNLocator(integer=True))
    axes.spines[["top", "right"]].set_visible(False)
    _save(figure, path)


def rows_per_page_chart(rows_per_page: list[tuple[int, int, int]], rows_label: str, path: str) -> None:
    figure = Figure(figsize=(8, 3.6))
    axes = figure.add_subplot()
    labels = [str(low) if low == high else f"{low}–{high}" for low, high, _ in rows_per_page]
    bars = axes.bar(labels, [articles for _, _, articles in rows_per_page], width=0.8, color=COLOR)
    axes.bar_label(bars, labels=[f"{articles:,}" for _, _, articles in rows_per_page], padding=2, fontsize=8)
    axes.yaxis.set_major_locator(MaxNLocator(integer=True))
    axes.set_title(f"{rows_label} per article")
    axes.set_xlabel(f"{rows_label} in the article")
    axes.set_ylabel("articles")
    axes.margins(y=0.12)
    axes.spines[["top", "right"]].set_visible(False)
    _save(figure, path)


def plot_stats(stats: OutputStats, directory: str) -> dict[str, str]:
    """Write every plot of `stats` into `directory`; {plot name: file name}."""
    os.makedirs(directory, exist_ok=True)
    rows_label = "sentences" if stats.kind == "sentences" else "pairs" if stats.kind == "pairs" else "rows"
    written = {}
    for dimension, counts in stats.counts.items():
        if len(counts) > 1 or dimension == "language":
            name = f"{rows_label}-by-{dimension}.png"
            bar_chart(counts, f"{rows_label} by {dimension}", rows_label, os.path.join(directory, name))
            written[f"by {dimension}"] = name
    for key, bins in stats.histograms.items():
        name = f"{key.replace('_', '-')}.png"
        histogram_chart(bins, stats.layout.histograms[key], rows_label, os.path.join(directory, name))
        written[stats.layout.histograms[key].title] = name
    if stats.rows_per_page:
        name = f"{rows_label}-per-article.png"
        rows_per_page_chart(stats.rows_per_page, rows_label, os.path.join(directory, name))
        written[f"{rows_label} per article"] = name
    return written
