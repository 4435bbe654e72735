"""`python -m scoring`: leaderboards, agreement, correlation, Good-Result-Ratio and paired
comparisons on CSV, JSON Lines, JSON or Parquet files.

Bad input (missing column, unknown winner, a model battling itself, an empty or unreadable
file, a value that is not a number, ...) prints one line on stderr naming the problem and,
where there is one, the 1-based data row, and exits with status 2. Set SCORING_DEBUG=1 to
get a traceback for unexpected errors.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import warnings
from collections.abc import Callable, Sequence

from scoring.errors import InputError
from scoring.ratings import BOTH_BAD_RULES, MIN_BATTLES, TIE_RULES

EXIT_INPUT = 2
EXIT_INTERNAL = 1
FORMATS = ("table", "json")


class _Parser(argparse.ArgumentParser):
    """An argument parser whose usage errors are one line on stderr, status 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(EXIT_INPUT, f"{self.prog}: error: {message} (see --help)\n")


def _split_list(text: str) -> list[str]:
    items = [part.strip() for part in text.split(",") if part.strip()]
    if not items:
        raise argparse.ArgumentTypeError("expected a comma-separated list")
    return items


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more: {text!r}")
    return value


def _probability(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1: {text!r}")
    return value


def _anchor(text: str) -> tuple[str, float]:
    name, sep, rating = text.rpartition("=")
    try:
        if not sep or not name:
            raise ValueError
        return name, float(rating)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected MODEL=RATING, got {text!r}") from None


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of `python -m scoring` and its commands."""
    parser = _Parser(
        prog="python -m scoring",
        description="Statistics for human evaluation of LLM outputs, on files "
        "(.csv, .jsonl, .json, .parquet). Bad input: one line on stderr, exit 2.",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    commands.required = True

    def command(name: str, help_text: str, description: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help_text, description=description)
        sub.add_argument(
            "file",
            metavar="FILE",
            help="input table: .csv, .jsonl, .json or .parquet (.csv.gz, .jsonl.gz too)",
        )
        sub.add_argument(
            "--format",
            choices=FORMATS,
            default="table",
            help="output a readable table (default) or JSON",
        )
        return sub

    lb = command(
        "leaderboard",
        "Bradley-Terry leaderboard with bootstrap intervals",
        "Bradley-Terry ratings (Elo scale: 400, base 10, mean 1000; ties count half a win) "
        "of pairwise battles with columns model_a, model_b, winner (model_a, model_b, tie, "
        "'tie (bothbad)'/both_bad, or another 'tie (...)' label), bootstrap confidence "
        "intervals and rank = 1 + the number of models whose lower bound is above this "
        "model's upper bound. Models with few battles, models without a finite rating (never "
        "lost / never won) and groups of models that never met are flagged (columns "
        "low_battles, unbounded, component). JSON: a list of rows model, rating, ci_lower, "
        "ci_upper, battles, wins, ties, losses, win_rate, rank, rank_lower, rank_upper, "
        "component, low_battles, unbounded.",
    )
    lb.add_argument(
        "--bootstrap",
        type=_positive_int,
        default=1000,
        metavar="N",
        help="bootstrap rounds (default 1000; 0 for none)",
    )
    lb.add_argument("--seed", type=int, default=0, metavar="S", help="random seed (default 0)")
    lb.add_argument(
        "--confidence",
        type=_probability,
        default=0.95,
        metavar="C",
        help="interval confidence level (default 0.95)",
    )
    lb.add_argument(
        "--anchor",
        type=_anchor,
        metavar="MODEL=RATING",
        help="shift ratings so that MODEL has RATING",
    )
    lb.add_argument(
        "--ties",
        choices=(*TIE_RULES, "davidson"),
        default="half",
        help="half: a tie is half a win for each side (default); drop: leave ties out; "
        "davidson (Davidson 1970): a tie parameter fitted by maximum likelihood (JSON rows add "
        "tie_parameter, tie_ci_lower, tie_ci_upper)",
    )
    lb.add_argument(
        "--both-bad",
        choices=BOTH_BAD_RULES,
        default="tie",
        help="tie: 'tie (bothbad)' is a tie (default); drop: leave those battles out",
    )
    lb.add_argument(
        "--drop-self-battles",
        action="store_true",
        help="leave out battles of a model against itself (default: an error naming the row)",
    )
    lb.add_argument(
        "--min-battles",
        type=_positive_int,
        default=MIN_BATTLES,
        metavar="N",
        help=f"flag models with fewer battles (default {MIN_BATTLES})",
    )

    jd = command(
        "judges",
        "agreement of AI judges with human graders (MT-Bench style)",
        "Agreement of each --judge with the human graders (every other grader), and of the "
        "humans among themselves, with and without ties (MT-Bench setups S1 and S2), the "
        "number of vote pairs (each unordered pair of humans once) and Cohen's kappa. FILE "
        "is long: item, grader, verdict (and optionally turn: then per turn and overall).",
    )
    jd.add_argument(
        "--judge",
        action="append",
        required=True,
        metavar="NAME",
        help="grader name of an AI judge (repeat for several)",
    )
    for name in ("item", "grader", "verdict", "turn"):
        jd.add_argument(
            f"--{name}-column",
            default=name,
            metavar="COL",
            help=f"column holding the {name} (default {name}"
            + ("; used when present)" if name == "turn" else ")"),
        )

    ag = command(
        "agreement",
        "inter-rater agreement (Krippendorff's alpha, kappas)",
        "Agreement among graders, from a long table with columns item, grader, value: "
        "Krippendorff's alpha with a jackknife interval, Fleiss' kappa (nominal; items rated "
        "by all graders), percent agreement, Cohen's kappa per grader pair and each "
        "grader's agreement with the majority of the others.",
    )
    ag.add_argument(
        "--level",
        choices=("nominal", "ordinal", "interval"),
        required=True,
        help="level of measurement of the values",
    )
    ag.add_argument(
        "--categories",
        "--value-order",
        dest="value_order",
        type=_split_list,
        metavar="A,B,C",
        help="the ordered scale, lowest first (needed for ordinal/interval text labels; "
        "kappa weights then use positions on it)",
    )
    ag.add_argument(
        "--weights",
        choices=("none", "linear", "quadratic"),
        help="Cohen's kappa weights (default by level: none, linear for ordinal, quadratic "
        "for interval); on positions in --categories, else on the ranks of the values each "
        "pair used, as scikit-learn's cohen_kappa_score and R irr's kappa2",
    )
    ag.add_argument(
        "--bootstrap",
        type=_positive_int,
        default=1000,
        metavar="N",
        help="bootstrap rounds for alpha's interval with --interval bootstrap (default 1000)",
    )
    ag.add_argument(
        "--interval",
        choices=("jackknife", "bootstrap", "none"),
        default="jackknife",
        help="alpha's interval: jackknife over items on the log(1 - alpha) scale (default; "
        "95%% coverage at 30 items in simulations), percentile bootstrap over items, or none",
    )
    ag.add_argument(
        "--seed", type=int, default=0, metavar="S", help="random seed of the bootstrap (default 0)"
    )
    for name in ("item", "grader", "value"):
        ag.add_argument(
            f"--{name}-column",
            default=name,
            metavar="COL",
            help=f"column holding the {name} (default {name})",
        )

    co = command(
        "correlate",
        "correlation of human scores with an automatic metric",
        "Pearson, Spearman and Kendall tau (with p-values and bootstrap intervals) between "
        "a human score column and a metric column; --by aggregates (means) per value of a "
        "column first, e.g. --by model for system level.",
    )
    co.add_argument("--human", required=True, metavar="COL", help="human score column")
    co.add_argument("--metric", required=True, metavar="COL", help="metric score column")
    co.add_argument("--by", metavar="COL", help="average per value of COL first")
    co.add_argument(
        "--bootstrap",
        type=_positive_int,
        default=1000,
        metavar="N",
        help="bootstrap rounds (default 1000)",
    )
    co.add_argument("--seed", type=int, default=0, metavar="S", help="random seed (default 0)")

    gr = command(
        "grr",
        "Good-Result-Ratio (or any label/tag rate) per model",
        "Share of ratings whose label is one of --good, per model, with Wilson 95%% "
        "intervals. With --tags COL, the share of rows carrying each tag instead. With "
        "--by COL, per slice of COL (each with n and its interval) with the parity gap "
        "(highest - lowest slice of at least --min-n rows) per model, flagged when the "
        "difference of the two slices is significant at --alpha (Bonferroni over the pairs "
        "of slices) and above --threshold percentage points.",
    )
    gr.add_argument(
        "--good",
        type=_split_list,
        metavar="A,B",
        help="labels that count as good (comma-separated)",
    )
    gr.add_argument("--label", default="label", metavar="COL", help="label column (default label)")
    gr.add_argument(
        "--tags",
        metavar="COL",
        help="report tag rates from this column (lists or comma-separated tags)",
    )
    gr.add_argument("--group", default="model", metavar="COL", help="group column (default model)")
    gr.add_argument(
        "--cluster",
        metavar="COL",
        help="column naming the rated response (default: response_id, response or prompt, "
        "the first present; 'none' for none): several ratings of one response get a "
        "clustered interval",
    )
    gr.add_argument("--by", metavar="COL", help="slice by this column and report parity gaps")
    gr.add_argument(
        "--threshold",
        type=float,
        default=3.0,
        metavar="PP",
        help="flag parity gaps above PP percentage points only (default 3)",
    )
    gr.add_argument(
        "--min-n",
        type=_positive_int,
        default=30,
        metavar="N",
        help="compare only slices with at least N rows (default 30)",
    )
    gr.add_argument(
        "--alpha",
        type=_probability,
        default=0.05,
        metavar="A",
        help="significance level of a flagged gap (default 0.05)",
    )

    cp = command(
        "compare",
        "paired comparison of two models on the same prompts",
        "Difference between two models on shared prompts, in Good-Result-Ratio (ratings: "
        "prompt, model, label) or win rate (battles: prompt, model_a, model_b, winner): "
        "paired bootstrap interval, p-value from the exact sign-flip test (valid with any "
        "number of prompts; a warning below 10), and the number of prompts a significant "
        "result would take at the observed effect (JSON: prompts_needed).",
    )
    cp.add_argument("--model-a", required=True, metavar="MODEL")
    cp.add_argument("--model-b", required=True, metavar="MODEL")
    cp.add_argument(
        "--measure",
        choices=("good_rate", "win_rate"),
        default="good_rate",
        help="what to compare (default good_rate)",
    )
    cp.add_argument(
        "--good", type=_split_list, metavar="A,B", help="labels that count as good (for good_rate)"
    )
    cp.add_argument(
        "--unit",
        default="prompt",
        metavar="COL",
        help="column identifying the shared prompt (default prompt)",
    )
    cp.add_argument("--label", default="label", metavar="COL", help="label column (default label)")
    cp.add_argument(
        "--resamples",
        type=_positive_int,
        default=5000,
        metavar="N",
        help="bootstrap resamples (default 5000)",
    )
    cp.add_argument("--seed", type=int, default=0, metavar="S", help="random seed (default 0)")
    cp.add_argument(
        "--alpha",
        type=_probability,
        default=0.05,
        help="significance level for the sample-size estimate (default 0.05)",
    )
    cp.add_argument(
        "--power",
        type=_probability,
        default=0.8,
        help="power for the sample-size estimate (default 0.8)",
    )

    from scoring import cli_extra

    cli_extra.add_leaderboard_options(lb)
    cli_extra.add_commands(command)
    return parser


# --------------------------------------------------------------------------- commands


def _leaderboard(args: argparse.Namespace):
    from scoring.io import read_table
    from scoring.ratings import BATTLE_COLUMNS, leaderboard

    if args.ties == "davidson" or args.control or args.responses:
        from scoring.cli_extra import modelled_leaderboard

        return modelled_leaderboard(args)

    table = read_table(args.file, text_columns=BATTLE_COLUMNS)
    result = leaderboard(
        table,
        bootstrap=args.bootstrap,
        rng=args.seed,
        confidence=args.confidence,
        anchor=args.anchor,
        ties=args.ties,
        both_bad=args.both_bad,
        drop_self_battles=args.drop_self_battles,
        min_battles=args.min_battles,
    )
    board = result.table

    def text() -> str:
        shown = board.drop(columns=["low_battles", "unbounded", "component"])
        shown["flags"] = [
            ", ".join(
                ([f"unbounded {u}"] if isinstance(u, str) else [])
                + ([f"< {result.min_battles} battles"] if low else [])
            )
            for u, low in zip(board["unbounded"], board["low_battles"], strict=True)
        ]
        digits = {"rating": 1, "ci_lower": 1, "ci_upper": 1, "win_rate": 3}
        if result.components == 1:
            return _frame_text(shown, digits)
        return "\n\n".join(
            f"Component {c} (never battled the other components; ranked on its own):\n"
            + _frame_text(shown[board["component"] == c], digits)
            for c in sorted(board["component"].unique())
        )

    return board, text


def _judges(args: argparse.Namespace):
    from scoring.io import read_table
    from scoring.judges import judge_report

    columns = [args.item_column, args.grader_column, args.turn_column]
    table = read_table(args.file, text_columns=columns)
    result = judge_report(
        table,
        args.judge,
        item=args.item_column,
        rater=args.grader_column,
        vote=args.verdict_column,
        turn=args.turn_column if args.turn_column in table.columns else None,
    )

    def text() -> str:
        rows = result.rows
        if rows["turn"].isna().all():
            rows = rows.drop(columns=["turn"])
        head = f"{result.humans} human grader(s); judges: {', '.join(result.judges)}"
        digits = {c: 3 for c in rows.columns if c.startswith(("agreement", "kappa"))}
        return head + "\n" + _frame_text(rows.drop(columns=["judge"]), digits)

    return result, text


def _agreement(args: argparse.Namespace):
    from scoring.agreement import agreement
    from scoring.io import read_table

    table = read_table(args.file, text_columns=[args.item_column, args.grader_column])
    result = agreement(
        table,
        level=args.level,
        interval=args.interval,
        bootstrap=args.bootstrap,
        rng=args.seed,
        value_order=args.value_order,
        weights=args.weights or "auto",
        item=args.item_column,
        grader=args.grader_column,
        value=args.value_column,
    )

    def text() -> str:
        summary = {
            "level": result.level,
            "krippendorff_alpha": result.krippendorff_alpha,
            f"alpha {result.confidence:.0%} interval ({result.interval})": (
                result.alpha_ci_lower,
                result.alpha_ci_upper,
            ),
            "fleiss_kappa": result.fleiss_kappa,
            "fleiss_items": result.fleiss_items,
            "percent_agreement": result.percent_agreement,
            "items (pairable)": f"{result.n_items} ({result.n_pairable_items})",
            "graders": result.n_graders,
            "ratings": result.n_ratings,
        }
        parts = [_pairs_text(summary)]
        if len(result.cohen_kappas):
            parts.append(
                "Cohen's kappa per grader pair:\n" + _frame_text(result.cohen_kappas, {"kappa": 3})
            )
        parts.append(
            "Graders, lowest agreement with the majority first:\n"
            + _frame_text(result.per_grader, {"agreement_with_majority": 3, "alpha_without": 3})
        )
        parts.extend(f"note: {note}" for note in result.notes)
        return "\n\n".join(parts)

    return result, text


def _correlate(args: argparse.Namespace):
    import pandas as pd

    from scoring.correlation import METHODS, correlate
    from scoring.io import read_table

    table = read_table(args.file, text_columns=[args.by] if args.by else [])
    result = correlate(
        table,
        human=args.human,
        metric=args.metric,
        by=args.by,
        bootstrap=args.bootstrap,
        rng=args.seed,
    )

    def text() -> str:
        data = result.to_dict()
        rows = pd.DataFrame([{"method": m, **data[m]} for m in METHODS])
        head = f"{args.human} vs {args.metric}, {result.level} level, n = {result.n}"
        if result.dropped:
            head += f" ({result.dropped} rows without both scores left out)"
        return (
            head
            + "\n"
            + _frame_text(rows, {"r": 3, "ci_lower": 3, "ci_upper": 3}, scientific=("p",))
        )

    return result, text


def _grr(args: argparse.Namespace):
    from scoring.io import read_table
    from scoring.rates import good_result_ratio, tag_rates
    from scoring.slices import by_slice

    if args.tags is None and not args.good:
        raise InputError("give --good LABELS (or --tags COL for tag rates)")
    text_columns = [c for c in (args.group, args.by) if c]
    table = read_table(args.file, text_columns=text_columns)
    if args.tags is not None:

        def compute(frame):
            return tag_rates(frame, group=args.group, tags=args.tags)
    else:
        cluster = args.cluster or next(
            (c for c in ("response_id", "response", "prompt") if c in table.columns), None
        )
        cluster = None if cluster == "none" else cluster

        def compute(frame):
            return good_result_ratio(
                frame, good_labels=args.good, group=args.group, label=args.label, cluster=cluster
            )

    digits = {"rate": 3, "ci_lower": 3, "ci_upper": 3}
    if args.by is None:
        result = compute(table)
        return result, lambda: _frame_text(result, digits)
    group = [args.group, "tag"] if args.tags is not None else args.group
    sliced = by_slice(
        table,
        args.by,
        compute,
        value="rate",
        group=group,
        threshold=args.threshold / 100,
        min_n=args.min_n,
        alpha=args.alpha,
    )

    def text() -> str:
        return (
            _frame_text(sliced.table, digits) + f"\n\nParity gaps across {args.by} "
            f"(slices of at least {args.min_n} rows; flagged when significant at "
            f"{args.alpha:g} and above {args.threshold:g} percentage points):\n"
            + _frame_text(sliced.gaps, {"gap": 3, "max_value": 3, "min_value": 3, "p_value": 4})
        )

    return {"slices": sliced.table, "parity": sliced.gaps}, text


def _compare(args: argparse.Namespace):
    from scoring.io import read_table
    from scoring.significance import compare_models

    text_columns = [args.unit, "model", "model_a", "model_b", "winner"]
    table = read_table(args.file, text_columns=text_columns)
    result = compare_models(
        table,
        model_a=args.model_a,
        model_b=args.model_b,
        measure=args.measure,
        good_labels=args.good,
        unit=args.unit,
        label=args.label,
        resamples=args.resamples,
        rng=args.seed,
        alpha=args.alpha,
        power=args.power,
    )
    for message in result.warnings:
        warnings.warn(message, UserWarning, stacklevel=1)
    needed = result.prompts_needed

    def text() -> str:
        if result.significant:
            verdict = f"already significant (p < {args.alpha:g})"
        elif needed.n_needed is None:
            verdict = "never (no difference)"
        else:
            verdict = f"{needed.n_needed} ({needed.n_more} more prompts)"
        lines = {
            "measure": args.measure,
            f"{args.model_a} (A)": result.mean_a,
            f"{args.model_b} (B)": result.mean_b,
            "difference A - B": result.difference,
            f"{result.confidence:.0%} interval": (result.ci_lower, result.ci_upper),
            "p-value (two-sided)": result.p_value,
            "test": result.test,
            "shared prompts": result.n,
            f"prompts needed for p < {args.alpha:g} at power {args.power:g}": verdict,
        }
        return _pairs_text(lines)

    return result, text


COMMANDS: dict[str, Callable] = {
    "leaderboard": _leaderboard,
    "judges": _judges,
    "agreement": _agreement,
    "correlate": _correlate,
    "grr": _grr,
    "compare": _compare,
}


# --------------------------------------------------------------------------- output


def _number(value: object, digits: int = 3) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        if value != value:  # NaN
            return "-"
        return f"{value:.{digits}f}"
    return str(value)


def _pairs_text(pairs: dict) -> str:
    width = max(len(k) for k in pairs)
    lines = []
    for key, value in pairs.items():
        if isinstance(value, tuple):
            shown = f"[{_number(value[0])}, {_number(value[1])}]"
        else:
            shown = _number(value, 4 if key.startswith("p-value") else 3)
        lines.append(f"{key.ljust(width)}  {shown}")
    return "\n".join(lines)


def _frame_text(frame, digits: dict[str, int], scientific: Sequence[str] = ()) -> str:
    if len(frame) == 0:
        return "(none)"
    shown = frame.copy()
    for column in shown.columns:
        if column in scientific:
            shown[column] = shown[column].map(lambda v: "-" if v != v else f"{v:.3g}")
        elif column in digits:
            shown[column] = shown[column].map(lambda v, d=digits[column]: _number(v, d))
        elif shown[column].dtype.kind == "f":
            shown[column] = shown[column].map(_number)
    return shown.to_string(index=False)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; return the exit status (0 ok, 2 bad input, 1 unexpected error)."""
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:  # --help, or a usage error already printed
        return exc.code if isinstance(exc.code, int) else EXIT_INPUT
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            run = getattr(args, "run", None) or COMMANDS[args.command]
            result, text = run(args)
            if args.format == "json":
                from scoring.tables import jsonable

                output = json.dumps(jsonable(result), indent=2, ensure_ascii=False, allow_nan=False)
            else:
                output = text()
        for warning in caught:
            if issubclass(warning.category, UserWarning):
                print(f"warning: {warning.message}", file=sys.stderr)
        print(output)
        return 0
    except InputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_INPUT
    except BrokenPipeError:  # e.g. piped into `head`
        return 0
    except Exception as exc:  # never a traceback for the user; SCORING_DEBUG shows it
        if os.environ.get("SCORING_DEBUG"):
            raise
        message = " ".join(str(exc).split())[:300]
        print(
            f"error: unexpected {type(exc).__name__}: {message} (set SCORING_DEBUG=1 for details)",
            file=sys.stderr,
        )
        return EXIT_INTERNAL
