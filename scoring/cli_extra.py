"""`python -m scoring` commands for ties, style, position bias, consistency, tags and
scheduling: the leaderboard's ``--ties davidson`` and ``--control`` paths and the commands
``position``, ``consistency``, ``tags`` and ``schedule``.

`scoring.cli` builds the parser and calls `add_leaderboard_options` and `add_commands`;
each command here returns (result, text function) like the commands of `scoring.cli`, so
output, warnings and errors (one line, exit 2, naming the row) work the same way.
"""

from __future__ import annotations

import argparse
import math

from scoring.cli import _frame_text, _pairs_text, _positive_int, _probability, _split_list
from scoring.errors import InputError

RESPONSES_HELP = (
    "responses for --control: one row per response with question_id (or id), model and "
    "text (or output), or the study file of import_study (id, outputs); columns length, "
    "headers, lists, bold may give the counts instead of the text. The battle FILE then "
    "needs a question_id column"
)


def add_leaderboard_options(lb: argparse.ArgumentParser) -> None:
    """--control and --responses of the leaderboard command."""
    lb.add_argument(
        "--control",
        type=_split_list,
        metavar="length,markdown",
        help="style control: fit covariates for the length difference (length) and the "
        "Markdown elements (markdown: headers, lists, bold; or name them one by one); "
        "needs --responses. JSON becomes an object with leaderboard, style_coefficients "
        "(coefficient, se, ci_lower, ci_upper, p_value, rating_points) and, with --ties "
        "davidson, tie_parameter; intervals are Wald intervals of the sandwich covariance",
    )
    lb.add_argument("--responses", metavar="FILE", help=RESPONSES_HELP)


def modelled_leaderboard(args: argparse.Namespace, table=None):
    """The leaderboard under ``--ties davidson`` and/or ``--control``; `table` is the battle
    table when the caller has already read (and filtered) it, else FILE is read here."""
    from scoring.io import read_table
    from scoring.ratings import BATTLE_COLUMNS

    ties = getattr(args, "ties", "half")
    control = getattr(args, "control", None)
    if getattr(args, "responses", None) and not control:
        raise InputError("--responses is only used with --control (e.g. --control length)")
    if table is None:
        table = read_table(args.file, text_columns=(*BATTLE_COLUMNS, "question_id"))
    if control:
        from scoring.style import response_styles, style_control, style_features

        if ties not in ("half", "davidson"):
            raise InputError(f"--control works with --ties half or davidson, not {ties}")
        if not args.responses:
            raise InputError(
                "--control needs --responses FILE (the responses' texts or style counts, "
                "keyed by question_id and model)"
            )
        responses = read_table(args.responses, text_columns=("question_id", "id", "model"))
        features = style_features(table, response_styles(responses), controls=control)
        result = style_control(
            table, features, ties=ties, confidence=args.confidence, anchor=args.anchor
        )

        def text() -> str:
            parts = [
                _frame_text(
                    result.leaderboard,
                    {
                        "rating": 1,
                        "ci_lower": 1,
                        "ci_upper": 1,
                        "se": 1,
                        "uncontrolled_rating": 1,
                        "win_rate": 3,
                    },
                ),
                f"Style coefficients (log-odds per root-mean-square unit; "
                f"{result.confidence:.0%} Wald intervals, sandwich covariance):\n"
                + _frame_text(
                    result.coefficients,
                    {"coefficient": 3, "se": 3, "ci_lower": 3, "ci_upper": 3, "z": 2},
                    scientific=("p_value",),
                ),
            ]
            if result.tie_parameter is not None:
                parts.append(
                    _pairs_text(
                        {
                            "Davidson tie parameter nu": result.tie_parameter,
                            f"{result.confidence:.0%} interval": (
                                result.tie_ci_lower,
                                result.tie_ci_upper,
                            ),
                        }
                    )
                )
            parts.extend(f"note: {f} is constant; left out" for f in result.dropped_features)
            return "\n\n".join(parts)

        return result.to_dict(), text

    from scoring.davidson import davidson_leaderboard

    board = davidson_leaderboard(
        table,
        bootstrap=args.bootstrap,
        seed=args.seed,
        confidence=args.confidence,
        anchor=args.anchor,
    )

    def davidson_text() -> str:
        summary = {
            "Davidson tie parameter nu": board.tie_parameter,
            f"{board.confidence:.0%} interval": (board.tie_ci_lower, board.tie_ci_upper),
            "P(tie) of two equal models": board.tie_probability_equal,
        }
        return (
            _frame_text(board.table, {"rating": 1, "ci_lower": 1, "ci_upper": 1, "win_rate": 3})
            + "\n\n"
            + _pairs_text(summary)
        )

    return board.rows(), davidson_text


# --------------------------------------------------------------------------- commands


def add_commands(command) -> None:
    """Add position, consistency, tags and schedule; `command` is `scoring.cli`'s helper
    that creates a sub-command with FILE and --format."""
    po = command(
        "position",
        "position bias: share of votes for the left side per grader",
        "Per grader (and model judge), the share of decisive verdicts that chose the "
        "response shown on the left, with an exact interval, the exact binomial test of 1/2 "
        "and Holm-adjusted p-values; pooled per kind with a cluster-robust interval. FILE: "
        "one row per judgment with grader and left_chosen (true/false, empty for a tie), or "
        "verdict (a/b/tie/both_bad or arena labels) and a_on_left (true when response a was "
        "on the left); optional grader_kind. --repeats adds the self-consistency of tasks "
        "served twice.",
    )
    po.add_argument(
        "--repeats",
        metavar="FILE",
        help="one row per task judged twice by a grader: grader, verdict, a_on_left, "
        "repeat_verdict, repeat_a_on_left (optional grader_kind, task)",
    )
    po.add_argument("--grader-column", default="grader", metavar="COL")
    po.add_argument("--kind-column", default="grader_kind", metavar="COL")
    po.add_argument("--confidence", type=_probability, default=0.95, metavar="C")
    po.add_argument(
        "--alpha", type=_probability, default=0.05, help="flag level after Holm (default 0.05)"
    )
    po.set_defaults(run=_position)

    co = command(
        "consistency",
        "verdicts that contradict the grader's own ratings; preference cycles",
        "Per grader: judgments whose verdict contradicts the grader's ratings (chose A but "
        "rated B higher), ties with unequal ratings, and prompts where the grader's "
        "verdicts form a cycle (A > B > C > A), with circular triads. FILE: one row per "
        "pairwise judgment with grader, prompt, model_a, model_b, verdict, and optionally "
        "rating_a, rating_b.",
    )
    co.add_argument(
        "--scale",
        type=_split_list,
        metavar="WORST,...,BEST",
        help="the rating labels, worst first (needed for text ratings)",
    )
    co.add_argument("--confidence", type=_probability, default=0.95, metavar="C")
    co.set_defaults(run=_consistency)

    tg = command(
        "tags",
        "which tags predict losing a battle (logistic regression)",
        "Firth-penalised logistic regression of each decisive battle's outcome on the "
        "difference of the two sides' tags, with the models' Bradley-Terry strengths; "
        "coefficient = log-odds of losing that a tag adds, with profile-likelihood "
        "intervals and p-values. FILE: one row per judgment with verdict, tags_a, tags_b "
        "(lists or comma-separated) and model_a, model_b.",
    )
    tg.add_argument("--by", metavar="COL", help="fit per value of COL (e.g. study, language)")
    tg.add_argument("--tags", type=_split_list, metavar="A,B", help="only these tags")
    tg.add_argument(
        "--no-model-control",
        action="store_true",
        help="leave the models' strengths out (marginal association)",
    )
    tg.add_argument("--confidence", type=_probability, default=0.95, metavar="C")
    tg.add_argument(
        "--min-battles",
        type=_positive_int,
        default=10,
        metavar="N",
        help="skip slices with fewer decisive battles (default 10)",
    )
    tg.set_defaults(run=_tags)

    sc = command(
        "schedule",
        "which pairs to serve next (adaptive scheduling) and whether to stop",
        "Scores each pair of models by how much one more vote shrinks the leaderboard's "
        "uncertainty (criterion variance: the rating intervals; ranks: rank-ambiguous "
        "neighbours), stops pairs (under ranks: once their intervals separated) and says "
        "whether the study should stop (--budget, --target-width, ranks separated). FILE: battles (model_a, model_b, winner) or counts (model_a, "
        "model_b, wins_a, wins_b, ties).",
    )
    sc.add_argument("--models", type=_split_list, metavar="A,B", help="all models (incl. unvoted)")
    sc.add_argument(
        "--candidates", metavar="FILE", help="pairs that can be served (model_a, model_b)"
    )
    sc.add_argument("--criterion", choices=("variance", "ranks"), default="variance")
    sc.add_argument("--budget", type=_positive_int, metavar="N", help="stop at N votes")
    sc.add_argument(
        "--target-width",
        type=float,
        metavar="POINTS",
        help="stop when the median rating interval is this narrow (Elo points)",
    )
    sc.add_argument("--max-votes-per-pair", type=_positive_int, metavar="N")
    sc.add_argument(
        "--plan", type=_positive_int, default=0, metavar="K", help="also plan the next K votes"
    )
    sc.add_argument("--confidence", type=_probability, default=0.95, metavar="C")
    sc.add_argument("--stop-confidence", type=_probability, metavar="C")
    sc.add_argument(
        "--stop-separated",
        choices=("yes", "no"),
        help="stop serving pairs whose intervals separated (default: yes for ranks, no "
        "for variance)",
    )
    sc.add_argument(
        "--top", type=_positive_int, default=20, metavar="N", help="pairs shown (table)"
    )
    sc.set_defaults(run=_schedule)


def _position(args: argparse.Namespace):
    from scoring.io import read_table
    from scoring.position import position_bias, swap_consistency

    table = read_table(args.file, text_columns=[args.grader_column])
    bias = position_bias(
        table,
        grader=args.grader_column,
        kind=args.kind_column,
        confidence=args.confidence,
        alpha=args.alpha,
    )
    output = {"position": bias.to_dict()}
    swaps = None
    if args.repeats:
        repeats = read_table(args.repeats, text_columns=[args.grader_column])
        swaps = swap_consistency(
            repeats, grader=args.grader_column, kind=args.kind_column, confidence=args.confidence
        )
        output["swap_consistency"] = swaps.to_dict()
    share = {"left_share": 3, "ci_lower": 3, "ci_upper": 3, "se": 3}

    def text() -> str:
        parts = [
            "Share of decisive votes for the left side, per grader "
            f"(flagged: Holm-adjusted p < {bias.alpha:g}):\n"
            + _frame_text(bias.graders, share, scientific=("p_value", "p_holm")),
            "Pooled (cluster-robust):\n" + _frame_text(bias.pooled, share, scientific=("p_value",)),
        ]
        if swaps is not None:
            rates = {"swapped_consistency": 3, "ci_lower": 3, "ci_upper": 3}
            parts.append(
                "Consistency of tasks served twice (swapped sides; same sides):\n"
                + _frame_text(swaps.graders, {**rates, "same_side_consistency": 3})
            )
        return "\n\n".join(parts)

    return output, text


def _consistency(args: argparse.Namespace):
    from scoring.consistency import rating_consistency
    from scoring.io import read_table

    table = read_table(args.file, text_columns=["grader", "prompt", "model_a", "model_b"])
    result = rating_consistency(table, scale=args.scale, confidence=args.confidence)
    rates = {
        "contradiction_rate": 3,
        "ci_lower": 3,
        "ci_upper": 3,
        "cycle_rate": 3,
        "circular_triad_rate": 3,
    }

    def text() -> str:
        parts = ["Per grader:\n" + _frame_text(result.graders, rates)]
        if len(result.contradictions):
            parts.append(
                "Verdicts against the grader's own ratings:\n"
                + _frame_text(result.contradictions, {})
            )
        if len(result.cycles):
            parts.append("Preference cycles:\n" + _frame_text(result.cycles, {}))
        return "\n\n".join(parts)

    return result.to_dict(), text


def _tags(args: argparse.Namespace):
    from scoring.io import read_table
    from scoring.tag_effects import tag_effects

    table = read_table(args.file, text_columns=[c for c in ("model_a", "model_b", args.by) if c])
    result = tag_effects(
        table,
        tags=args.tags,
        by=args.by,
        control_models=not args.no_model_control,
        confidence=args.confidence,
        min_battles=args.min_battles,
    )

    def text() -> str:
        head = (
            "Log-odds of losing per tag (Firth logistic regression"
            + (", models' strengths controlled" if result.control_models else "")
            + f"; {result.confidence:.0%} profile-likelihood intervals):\n"
        )
        digits = {k: 3 for k in ("coefficient", "odds_ratio", "ci_lower", "ci_upper")}
        digits.update(or_lower=3, or_upper=3)
        body = _frame_text(result.table, digits, scientific=("p_value",))
        notes = "".join(f"\nnote: {n}" for n in result.notes)
        return head + body + notes

    return result.to_dict(), text


def _schedule(args: argparse.Namespace):
    from scoring.adaptive import COUNT_COLUMNS, counts_from_battles, schedule_pairs
    from scoring.io import read_table

    table = read_table(args.file, text_columns=["model_a", "model_b"])
    if "winner" in table.columns and not set(COUNT_COLUMNS) <= set(table.columns):
        counts = counts_from_battles(table)
    else:
        counts = table
    candidates = None
    if args.candidates:
        candidates = read_table(args.candidates, text_columns=["model_a", "model_b"])
    if args.target_width is not None and not (
        args.target_width > 0 and math.isfinite(args.target_width)
    ):
        raise InputError(f"--target-width must be a positive number, got {args.target_width}")
    result = schedule_pairs(
        counts,
        args.models,
        candidates=candidates,
        criterion=args.criterion,
        confidence=args.confidence,
        stop_confidence=args.stop_confidence,
        budget=args.budget,
        target_width=args.target_width,
        max_votes_per_pair=args.max_votes_per_pair,
        stop_separated=None if args.stop_separated is None else args.stop_separated == "yes",
        plan=args.plan,
    )

    def text() -> str:
        summary = {
            "votes": result.votes,
            "median interval width": result.median_width,
            "criterion": result.criterion,
            "stop": f"yes ({result.stop_reason})" if result.stop else "no",
        }
        parts = [
            _pairs_text(summary),
            "Ratings (Laplace approximation):\n"
            + _frame_text(result.ratings, {"rating": 1, "se": 1, "ci_lower": 1, "ci_upper": 1}),
            f"Pairs, best next vote first (top {args.top}):\n"
            + _frame_text(result.pairs.head(args.top), {"score": 2, "priority": 0}),
        ]
        if len(result.plan):
            parts.append("Plan:\n" + _frame_text(result.plan, {}))
        return "\n\n".join(parts)

    return result.to_dict(), text
