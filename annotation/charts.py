"""Charts for the dashboard, drawn by matplotlib on the server and served as SVG images.

matplotlib is imported when a chart is drawn, not when the app starts.
"""

from __future__ import annotations

import io


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams.update(
        {
            "svg.hashsalt": "humaneval",
            "font.size": 10,
            "axes.spines.top": False,
            "axes.spines.right": False,
        }
    )
    return plt


def _svg(fig) -> str:
    buffer = io.StringIO()
    fig.savefig(buffer, format="svg", bbox_inches="tight", metadata={"Date": None})
    _pyplot().close(fig)
    return buffer.getvalue()


def ratings_chart(rows: list[dict]) -> str:
    """Bradley-Terry ratings with their bootstrap intervals, best model on top."""
    plt = _pyplot()
    rated = [r for r in rows if r.get("rating") is not None][::-1]
    fig, ax = plt.subplots(figsize=(7, 0.45 * max(len(rated), 1) + 1.2))
    if not rated:
        ax.text(
            0.5, 0.5, "No pairwise verdicts yet", ha="center", va="center", transform=ax.transAxes
        )
        ax.set_axis_off()
        return _svg(fig)
    y = range(len(rated))
    values = [r["rating"] for r in rated]
    lower = [r["rating"] - r["ci_lower"] for r in rated]
    upper = [r["ci_upper"] - r["rating"] for r in rated]
    ax.errorbar(
        values,
        list(y),
        xerr=[lower, upper],
        fmt="o",
        color="#2457c5",
        ecolor="#8aa6e0",
        elinewidth=3,
        capsize=4,
    )
    ax.set_yticks(list(y), [r["model"] for r in rated])
    ax.set_xlabel("Bradley-Terry rating (Elo scale), 95% bootstrap interval")
    ax.grid(axis="x", color="#e3e7ee")
    return _svg(fig)


def grr_chart(rows: list[dict]) -> str:
    """Good-Result-Ratio per model with Wilson intervals."""
    plt = _pyplot()
    rated = [r for r in rows if r.get("grr") is not None][::-1]
    fig, ax = plt.subplots(figsize=(7, 0.45 * max(len(rated), 1) + 1.2))
    if not rated:
        ax.text(0.5, 0.5, "No ratings yet", ha="center", va="center", transform=ax.transAxes)
        ax.set_axis_off()
        return _svg(fig)
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
    return _svg(fig)


def win_rate_heatmap(matrix: dict | None) -> str:
    """Observed win rate of the row model against the column model."""
    plt = _pyplot()
    import numpy as np

    if not matrix:
        fig, ax = plt.subplots(figsize=(4, 1))
        ax.text(
            0.5, 0.5, "No pairwise verdicts yet", ha="center", va="center", transform=ax.transAxes
        )
        ax.set_axis_off()
        return _svg(fig)
    models = matrix["models"]
    values = np.array(
        [[np.nan if v is None else v for v in row] for row in matrix["observed"]], dtype=float
    )
    size = 0.8 * len(models) + 2
    fig, ax = plt.subplots(figsize=(size + 1, size))
    image = ax.imshow(values, cmap="RdBu", vmin=0, vmax=1)
    ax.set_xticks(range(len(models)), models, rotation=35, ha="right")
    ax.set_yticks(range(len(models)), models)
    for i in range(len(models)):
        for j in range(len(models)):
            if not np.isnan(values[i, j]):
                n = matrix["counts"][i][j]
                ax.text(
                    j,
                    i,
                    f"{values[i, j]:.2f}\n({n})",
                    ha="center",
                    va="center",
                    fontsize=8,
                    color="white" if abs(values[i, j] - 0.5) > 0.3 else "black",
                )
    ax.set_xlabel("opponent")
    ax.set_ylabel("model")
    fig.colorbar(image, ax=ax, label="win rate of row model (ties count half)", shrink=0.8)
    return _svg(fig)


def metric_scatter(points: list[dict], metric: str, human: str) -> str:
    """Each response's metric value against its human score, one colour per model."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 4))
    shown = [p for p in points if p.get(human) is not None and p.get(metric) is not None]
    if not shown:
        ax.text(
            0.5,
            0.5,
            f"No responses with both {metric} and {human}",
            ha="center",
            va="center",
            transform=ax.transAxes,
        )
        ax.set_axis_off()
        return _svg(fig)
    for model in sorted({p["model"] for p in shown}):
        mine = [p for p in shown if p["model"] == model]
        ax.scatter(
            [p[metric] for p in mine], [p[human] for p in mine], s=14, alpha=0.7, label=model
        )
    ax.set_xlabel(metric)
    ax.set_ylabel(human.replace("_", " "))
    ax.legend(fontsize=8, frameon=False, loc="best")
    return _svg(fig)
