"""A model-card snippet in Markdown describing a study's human evaluation data.

Study size, models, graders and their self-reported demographics (aggregated,
and only what graders chose to give), agreement, and the data's sources and
licences: what a dataset or model card needs to say about human judgments.
"""

from __future__ import annotations

from collections import Counter

from django.db.models import Count, Max, Min

from annotation import counting, results
from annotation.models import Study, User

# Demographic values given by fewer graders than this are pooled, so no one is singled out.
MIN_CELL = 3


def _estimate(value, lower, upper, *, digits: int, missing: str) -> str:
    """ "0.412 (0.30 to 0.52)"; the value without an interval when it has none; `missing` (words
    saying why) when there is no value. Never "n/a (n/a to n/a)"."""
    if value is None:
        return missing
    text = f"{value:.{digits}f}"
    if lower is None or upper is None:
        return f"{text} (no interval)"
    return f"{text} ({lower:.{digits}f} to {upper:.{digits}f})"


def _scale_line(study: Study) -> str:
    """The rating scale in words: which labels count as a good result, or why none do."""
    if not study.rating_scale:
        return "- **Rating scale**: none (pairwise verdicts only)"
    scale = ", ".join(study.rating_scale)
    good = [label for label in study.rating_scale if label in study.good_labels]
    if not good:
        return f"- **Rating scale**: {scale}; no label counts as a good result"
    quoted = " and ".join(f'"{label}"' for label in good)
    return f"- **Rating scale**: {scale}; {quoted} count{'s' if len(good) == 1 else ''} as a good result"


def _agreement_cells(q: dict) -> tuple[str, str]:
    if q.get("error"):
        return q["error"], "not computed"
    alpha = _estimate(
        q.get("krippendorff_alpha"),
        q.get("alpha_ci_lower"),
        q.get("alpha_ci_upper"),
        digits=3,
        missing=(
            "undefined: no item was judged twice"
            if not q.get("n_pairable_items")
            else "undefined: every answer was the same"
        ),
    )
    percent = q.get("percent_agreement")
    return alpha, ("no item judged twice" if percent is None else f"{percent:.3f}")


def demographics(study: Study) -> dict[str, Counter]:
    """Per self-reported attribute, how many of the study's human graders gave each value;
    values given by fewer than MIN_CELL graders are pooled as "other"."""
    # One row per grader (not DISTINCT on the answers: graders may answer alike).
    graders = User.objects.filter(pk__in=counting.counted_judgments(study).values("grader_id"))
    counts: dict[str, Counter] = {}
    for answers in graders.values_list("demographics", flat=True):
        for key, value in (answers or {}).items():
            if value not in (None, ""):
                counts.setdefault(str(key), Counter())[str(value)] += 1
    pooled = {}
    for key, counter in counts.items():
        kept = Counter({v: n for v, n in counter.items() if n >= MIN_CELL})
        small = sum(n for n in counter.values() if n < MIN_CELL)
        if small:
            kept["other"] += small
        pooled[key] = kept
    return pooled


def _modelling_lines(study: Study) -> list[str]:
    """Ties, style and position bias in three lines (issue 13): the Davidson tie parameter,
    the style coefficients whose interval excludes 0, and the graders flagged for a side."""
    out = []
    ties = results.davidson(study)
    if ties["tie_parameter"] is not None:
        nu = _estimate(
            ties["tie_parameter"], ties["tie_ci_lower"], ties["tie_ci_upper"], digits=3, missing=""
        )
        out.append(
            f"- **Ties** (Davidson 1970 model): tie parameter {nu} from {ties['n_ties']} ties; "
            f"equally strong models tie with probability {ties['tie_probability_equal']:.2f}."
        )
    style = results.style_control(study)
    if style["coefficients"]:
        shown = ", ".join(
            f"{c['feature']} {c['coefficient']:+.2f} ({c['ci_lower']:.2f} to {c['ci_upper']:.2f})"
            for c in style["coefficients"]
        )
        out.append(f"- **Style** (log-odds per RMS unit, 95% CI): {shown}.")
    else:
        out.append(f"- **Style**: not estimated ({'; '.join(style['notes']) or 'no data'}).")
    position = results.position_bias(study)
    flagged = [g["grader"] for g in position["graders"] if g["flagged"] and g["enough"]]
    measured = sum(1 for g in position["graders"] if g["enough"])
    out.append(
        f"- **Position bias**: {len(flagged)} of {measured} graders and judges with enough "
        "decisive votes favour a screen side (exact test, Holm-adjusted)"
        + (f": {', '.join(flagged)}." if flagged else ".")
    )
    return out


def model_card(study: Study) -> str:
    human = counting.counted_judgments(study)
    stats = human.aggregate(n=Count("pk"), first=Min("created_at"), last=Max("created_at"))
    per_grader = list(human.values("grader").annotate(n=Count("pk")).values_list("n", flat=True))
    judges = sorted(
        set(counting.MODEL_JUDGES.judgments(study).values_list("grader__username", flat=True))
    )
    models = list(study.models.values_list("name", flat=True))
    board = results.leaderboard(study)
    agreement = results.agreement(study)
    lines = [
        f"## Human evaluation: {study.name}",
        "",
        f"- **Protocol**: {study.get_protocol_display()}; {study.overlap} graders per task; "
        f"{'blind' if study.blind else 'not blind'} (model names hidden, sides drawn at random).",
        f"{_scale_line(study)}; **tags**: {', '.join(study.tags) or 'none'}.",
        f"- **Size**: {study.prompts.count()} prompts, {len(models)} models ({', '.join(models)}), "
        f"{stats['n']} human judgments by {len(per_grader)} graders",
    ]
    if stats["first"]:
        lines[-1] += f", collected {stats['first']:%Y-%m-%d} to {stats['last']:%Y-%m-%d}."
    else:
        lines[-1] += "."
    if judges:
        lines.append(f"- **AI judges** (kept apart from the human results): {', '.join(judges)}.")
    lines += ["", "### Graders", ""]
    if not per_grader:
        lines.append("No human judgments yet.")
    else:
        per_grader.sort()
        lines.append(
            f"Judgments per grader: median {per_grader[len(per_grader) // 2]}, range {per_grader[0]}-{per_grader[-1]}."
        )
    demo = demographics(study)
    if demo:
        lines.append(
            "Self-reported demographics (optional; values given by fewer than "
            f'{MIN_CELL} graders pooled as "other"):'
        )
        for key, counter in sorted(demo.items()):
            shown = ", ".join(f"{value} {n}" for value, n in sorted(counter.items()))
            lines.append(f"- {key}: {shown}")
    else:
        lines.append("No grader gave demographic information.")
    lines += [
        "",
        "### Agreement",
        "",
        "| question | level | Krippendorff's alpha (95% CI) | percent agreement |",
        "|---|---|---|---|",
    ]
    for q in agreement["questions"]:
        alpha, percent = _agreement_cells(q)
        lines.append(f"| {q['question']} | {q['level']} | {alpha} | {percent} |")
    lines += [
        "",
        "### Results",
        "",
        "| model | Bradley-Terry rating (95% CI) | battles | Good-Result-Ratio (95% CI) |",
        "|---|---|---|---|",
    ]
    for row in board["rows"]:
        rating = _estimate(
            row.get("rating"),
            row.get("ci_lower"),
            row.get("ci_upper"),
            digits=0,
            missing="no pairwise verdicts",
        )
        grr = _estimate(
            row.get("grr"),
            row.get("grr_ci_lower"),
            row.get("grr_ci_upper"),
            digits=3,
            missing="no ratings",
        )
        lines.append(f"| {row['model']} | {rating} | {row.get('battles') or 0} | {grr} |")
    lines += ["", *_modelling_lines(study)]
    lines += [
        "",
        "### Data sources and licences",
        "",
        study.data_sources.strip() or "Not stated for this study.",
        "",
    ]
    return "\n".join(lines)
