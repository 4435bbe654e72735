"""Charts for the dashboard, drawn by matplotlib on the server: SVG on the page, and SVG, PNG
or PDF to download for a paper.

Every chart is vector throughout: no embedded raster (the win-rate matrix is drawn as
rectangles, and the colour bar's gradient is not rasterised), so an SVG opened on its own
shows whole under a Content-Security-Policy that forbids data: images, and the PDF scales
without blur. Text stays text (SVG ``<text>``, TrueType in the PDF), sized to be read at the
size the dashboard shows it; legends sit beside the plot, never over its points.

matplotlib is imported when a chart is drawn, not when the app starts.
"""

from __future__ import annotations

import io

FORMATS = {
    "svg": "image/svg+xml",
    "png": "image/png",
    "pdf": "application/pdf",
}
# Points: the dashboard shows the charts at their natural size (1 pt = 4/3 CSS px), so
# tick labels are 14.7 px and the smallest text (the matrix cells) 13.3 px on screen.
FONT_SIZE = 11
SMALL_FONT = 10
WIDTH_INCHES = 6.0
PNG_DPI = 200


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams.update(
        {
            "svg.hashsalt": "humaneval",
            # Text as <text> elements, not outlines: smaller, selectable, searchable.
            "svg.fonttype": "none",
            # TrueType fonts in the PDF, so journals' tools can edit the labels.
            "pdf.fonttype": 42,
            "font.size": FONT_SIZE,
            "axes.labelsize": FONT_SIZE,
            "xtick.labelsize": FONT_SIZE,
            "ytick.labelsize": FONT_SIZE,
            "legend.fontsize": FONT_SIZE,
            "axes.spines.top": False,
            "axes.spines.right": False,
        }
    )
    return plt


def render(fig, fmt: str = "svg") -> bytes:
    """The figure as SVG, PNG or PDF bytes (then closed). Dates are left out of the files'
    metadata so the same data gives the same bytes."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown chart format {fmt!r} (svg, png or pdf)")
    metadata = {"svg": {"Date": None}, "pdf": {"CreationDate": None}, "png": {}}[fmt]
    buffer = io.BytesIO()
    fig.savefig(
        buffer,
        format=fmt,
        bbox_inches="tight",
        dpi=PNG_DPI if fmt == "png" else "figure",
        metadata=metadata,
        facecolor="white",
    )
    _pyplot().close(fig)
    return buffer.getvalue()


def _empty(message: str):
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(WIDTH_INCHES, 1.2))
    ax.text(0.5, 0.5, message, ha="center", va="center", transform=ax.transAxes)
    ax.set_axis_off()
    return fig


def ratings_figure(rows: list[dict]):
    """Bradley-Terry ratings with their bootstrap intervals, best model on top."""
    plt = _pyplot()
    rated = [r for r in rows if r.get("rating") is not None][::-1]
    if not rated:
        if any(r.get("battles") for r in rows):
            # Verdicts exist but leave every rating unbounded (e.g. a perfect order so far).
            return _empty("No finite rating yet: see the leaderboard's notes")
        return _empty("No pairwise verdicts yet")
    fig, ax = plt.subplots(figsize=(WIDTH_INCHES, 0.45 * len(rated) + 1.3))
    y = list(range(len(rated)))
    values = [r["rating"] for r in rated]
    lower = [
        r["rating"] - (r.get("ci_lower") if r.get("ci_lower") is not None else r["rating"])
        for r in rated
    ]
    upper = [
        (r.get("ci_upper") if r.get("ci_upper") is not None else r["rating"]) - r["rating"]
        for r in rated
    ]
    ax.errorbar(
        values,
        y,
        xerr=[lower, upper],
        fmt="o",
        color="#2457c5",
        ecolor="#8aa6e0",
        elinewidth=3,
        capsize=4,
    )
    ax.set_yticks(y, [r["model"] for r in rated])
    ax.set_ylim(-0.6, len(rated) - 0.4)
    ax.set_xlabel("Bradley-Terry rating (Elo scale), 95% bootstrap interval")
    ax.grid(axis="x", color="#e3e7ee")
    return fig


def grr_figure(rows: list[dict]):
    """Good-Result-Ratio per model with Wilson intervals."""
    plt = _pyplot()
    rated = [r for r in rows if r.get("grr") is not None][::-1]
    if not rated:
        return _empty("No ratings yet")
    fig, ax = plt.subplots(figsize=(WIDTH_INCHES, 0.45 * len(rated) + 1.3))
    y = list(range(len(rated)))
    ax.barh(y, [r["grr"] for r in rated], color="#9fd3b5")
    ax.errorbar(
        [r["grr"] for r in rated],
        y,
        xerr=[
            [r["grr"] - r["grr_ci_lower"] for r in rated],
            [r["grr_ci_upper"] - r["grr"] for r in rated],
        ],
        fmt="none",
        ecolor="#1b7f4b",
        capsize=4,
    )
    ax.set_yticks(y, [r["model"] for r in rated])
    ax.set_xlim(0, 1)
    ax.set_xlabel("Good-Result-Ratio (share rated good), 95% Wilson interval")
    return fig


def win_rate_figure(matrix: dict | None):
    """Observed win rate of the row model against the column model, with the battle count of
    each cell; drawn as vector rectangles (pcolormesh), never as an embedded image."""
    plt = _pyplot()
    import numpy as np

    if not matrix:
        return _empty("No pairwise verdicts yet")
    models = matrix["models"]
    values = np.array(
        [[np.nan if v is None else v for v in row] for row in matrix["observed"]], dtype=float
    )
    n = len(models)
    side = 0.75 * n + 2.2
    fig, ax = plt.subplots(figsize=(side + 1.4, side))
    mesh = ax.pcolormesh(
        np.ma.masked_invalid(values),
        cmap="RdBu",
        vmin=0,
        vmax=1,
        edgecolors="white",
        linewidth=1,
    )
    mesh.set_rasterized(False)
    ax.set_xlim(0, n)
    ax.set_ylim(n, 0)  # first model on top, as in the table
    ax.set_aspect("equal")
    centres = [i + 0.5 for i in range(n)]
    ax.set_xticks(centres, models, rotation=35, ha="right", rotation_mode="anchor")
    ax.set_yticks(centres, models)
    ax.tick_params(length=0)
    for spine in ax.spines.values():
        spine.set_visible(False)
    for i in range(n):
        for j in range(n):
            if not np.isnan(values[i, j]):
                ax.text(
                    j + 0.5,
                    i + 0.5,
                    f"{values[i, j]:.2f}\n({matrix['counts'][i][j]})",
                    ha="center",
                    va="center",
                    fontsize=SMALL_FONT,
                    color="white" if abs(values[i, j] - 0.5) > 0.3 else "black",
                )
    ax.set_xlabel("opponent")
    ax.set_ylabel("model")
    bar = fig.colorbar(mesh, ax=ax, shrink=0.8)
    bar.set_label("win rate of row model (ties count half)")
    # matplotlib rasterises a colour bar of more than 50 colours; keep it vector.
    bar.solids.set_rasterized(False)
    bar.solids.set_edgecolor("face")  # no hairline seams between its vector bands
    return fig


def metric_scatter_figure(points: list[dict], metric: str, human: str):
    """Each response's metric value against its human score, one colour per model; the
    legend stands to the right of the plot, outside it."""
    plt = _pyplot()
    shown = [p for p in points if p.get(human) is not None and p.get(metric) is not None]
    if not shown:
        return _empty(f"No responses with both {metric} and {human.replace('_', ' ')}")
    fig, ax = plt.subplots(figsize=(WIDTH_INCHES, 4))
    for model in sorted({p["model"] for p in shown}):
        mine = [p for p in shown if p["model"] == model]
        ax.scatter(
            [p[metric] for p in mine], [p[human] for p in mine], s=16, alpha=0.7, label=model
        )
    ax.set_xlabel(metric)
    ax.set_ylabel(human.replace("_", " "))
    ax.legend(
        title="model",
        frameon=False,
        loc="upper left",
        bbox_to_anchor=(1.02, 1.0),
        borderaxespad=0.0,
    )
    return fig
