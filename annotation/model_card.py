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


def _fmt(value, digits=3) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


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
        f"- **Rating scale**: {', '.join(study.rating_scale)} (good: {', '.join(study.good_labels)}); "
        f"**tags**: {', '.join(study.tags) or 'none'}.",
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
    if per_grader:
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
        if q.get("error"):
            lines.append(f"| {q['question']} | {q['level']} | {q['error']} | |")
        else:
            lines.append(
                f"| {q['question']} | {q['level']} | {_fmt(q['krippendorff_alpha'])} "
                f"({_fmt(q['alpha_ci_lower'])} to {_fmt(q['alpha_ci_upper'])}) | {_fmt(q['percent_agreement'])} |"
            )
    lines += [
        "",
        "### Results",
        "",
        "| model | Bradley-Terry rating (95% CI) | battles | Good-Result-Ratio (95% CI) |",
        "|---|---|---|---|",
    ]
    for row in board["rows"]:
        rating = (
            f"{row['rating']:.0f} ({row['ci_lower']:.0f} to {row['ci_upper']:.0f})"
            if row.get("rating") is not None
            else "n/a"
        )
        grr = (
            f"{row['grr']:.3f} ({row['grr_ci_lower']:.3f} to {row['grr_ci_upper']:.3f})"
            if row.get("grr") is not None
            else "n/a"
        )
        lines.append(f"| {row['model']} | {rating} | {row.get('battles') or 0} | {grr} |")
    lines += [
        "",
        "### Data sources and licences",
        "",
        study.data_sources.strip() or "Not stated for this study.",
        "",
    ]
    return "\n".join(lines)
