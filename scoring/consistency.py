"""Rating-vote consistency and intransitive preferences of each grader.

Two checks of a grader's own coherence, both on data a pairwise study already has:

* **Contradictions.** A judgment whose verdict goes against the grader's own ratings of the
  two responses: chose A but rated B higher on the study's ordered scale (or the reverse).
  A decisive verdict with equal ratings is not a contradiction (the scale is coarser than a
  preference); a tie with unequal ratings is reported apart (``tie_unequal``), as a weaker
  sign.
* **Cycles.** Over one prompt, a grader's decisive verdicts between the responses of several
  models form a directed graph (winner -> loser). Preferences are transitive iff the graph
  has no cycle; a cycle (A > B, B > C, C > A) means at least one verdict is not a stable
  preference. Each (grader, prompt) with a cycle is flagged with one cycle it contains (the
  graph's strongly connected components, Tarjan 1972, via scipy). Where all three pairs of a
  triple were judged decisively the triple is "complete"; the share of complete triples that
  are circular is Kendall & Babington Smith's (1940) circular-triad rate ("On the method of
  paired comparisons", Biometrika 31).

Per grader the rates come with exact (Clopper-Pearson) intervals. Verdict labels go
through `scoring.verdicts`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import combinations

import numpy as np
import pandas as pd
from scipy import sparse
from scipy.sparse.csgraph import connected_components

from scoring.errors import InputError, row_error
from scoring.position import exact_intervals
from scoring.tables import missing_mask, require_columns, require_table
from scoring.verdicts import TIES, A, B, to_verdicts


@dataclass(frozen=True)
class Consistency:
    """Per-grader rates and the flagged items.

    graders: grader, judgments, rated (decisive verdicts with both ratings), contradictions,
    contradiction_rate, ci_lower, ci_upper, tie_unequal, prompts (with decisive verdicts over
    3 or more models), cyclic_prompts, cycle_rate, triads (complete), circular_triads,
    circular_triad_rate. contradictions: the input rows (1-based ``row`` added) whose
    verdict contradicts the ratings, with ``kind`` (``contradiction`` or ``tie_unequal``).
    cycles: grader, prompt, models (those caught in cycles), cycle (one cycle, as
    "A > B > C > A"), rows (the 1-based rows of the cycle's judgments).
    """

    graders: pd.DataFrame
    contradictions: pd.DataFrame
    cycles: pd.DataFrame
    confidence: float

    def to_dict(self) -> dict:
        """JSON-ready form (``python -m scoring consistency --format json``)."""
        return {
            "graders": self.graders,
            "contradictions": self.contradictions,
            "cycles": self.cycles,
            "confidence": self.confidence,
        }


def rating_consistency(
    judgments: pd.DataFrame,
    *,
    scale: Sequence[str] | None = None,
    grader: str = "grader",
    prompt: str = "prompt",
    model_a: str = "model_a",
    model_b: str = "model_b",
    verdict: str = "verdict",
    rating_a: str = "rating_a",
    rating_b: str = "rating_b",
    confidence: float = 0.95,
) -> Consistency:
    """Contradictions between verdicts and ratings, and preference cycles, per grader.

    Parameters
    ----------
    judgments
        Long table, one row per pairwise judgment: ``grader``, ``prompt`` (the prompt's id),
        ``model_a`` and ``model_b`` (the two responses' models, or any id of the responses),
        ``verdict`` (labels of `scoring.verdicts`: a/model_a means response a was
        preferred), and optionally ``rating_a`` and ``rating_b``, the grader's labels for the
        two responses in that judgment (empty where not rated). Other columns (e.g. a
        judgment id) are kept in the flagged rows. A grader may judge a pair of models only
        once per prompt (repeats belong in `scoring.position.swap_consistency`).
    scale
        The rating labels, worst first (the study's ordered scale). Needed when the table
        has ratings, unless they are numbers (higher is better).
    confidence
        Level of the exact intervals.

    Raises `InputError` naming the row for a missing column or cell, an unknown verdict or
    rating label, a model paired with itself, or a pair judged twice by one grader on one
    prompt.
    """
    judgments = require_table(judgments, "judgment table")
    require_columns(judgments, [grader, prompt, model_a, model_b, verdict], "judgment table")
    if not 0 < confidence < 1:
        raise InputError("confidence must be between 0 and 1")
    for column in (grader, prompt, model_a, model_b):
        missing = missing_mask(judgments[column])
        if missing.any():
            raise row_error(int(np.argmax(missing)), f"{column} is empty")
    graders = judgments[grader].map(str).to_numpy(dtype=object)
    prompts = judgments[prompt].map(str).to_numpy(dtype=object)
    first = judgments[model_a].map(str).to_numpy(dtype=object)
    second = judgments[model_b].map(str).to_numpy(dtype=object)
    same = first == second
    if same.any():
        raise row_error(
            int(np.argmax(same)), f"model {first[np.argmax(same)]!r} is paired with itself"
        )
    verdicts = to_verdicts(judgments[verdict], what=verdict)
    _refuse_repeats(graders, prompts, first, second, grader, prompt)

    has_ratings = rating_a in judgments.columns and rating_b in judgments.columns
    if has_ratings:
        score_a, bad_a = _rating_scores(judgments[rating_a], scale)
        score_b, bad_b = _rating_scores(judgments[rating_b], scale)
        bad = bad_a | bad_b
        if bad.any():
            position = int(np.argmax(bad))
            column, values = (
                (rating_a, judgments[rating_a])
                if bad_a[position]
                else (rating_b, judgments[rating_b])
            )
            value = values.tolist()[position]
            if scale is None:
                raise row_error(
                    position,
                    f"{column} is {value!r}; give the rating scale (worst first) for text labels",
                )
            raise row_error(
                position, f"{column} {value!r} is not on the scale ({', '.join(map(str, scale))})"
            )
    else:
        score_a = score_b = np.full(len(judgments), np.nan)
    rated = ~np.isnan(score_a) & ~np.isnan(score_b)
    decisive = np.isin(verdicts, [A, B])
    contradiction = rated & (
        ((verdicts == A) & (score_b > score_a)) | ((verdicts == B) & (score_a > score_b))
    )
    tie_unequal = rated & np.isin(verdicts, list(TIES)) & (score_a != score_b)

    flagged = judgments.loc[contradiction | tie_unequal].copy()
    flagged.insert(0, "row", np.flatnonzero(contradiction | tie_unequal) + 1)
    flagged["kind"] = np.where(
        contradiction[contradiction | tie_unequal], "contradiction", "tie_unequal"
    )

    cycle_rows, per_group = _cycles(graders, prompts, first, second, verdicts)
    per_judgment = (
        pd.DataFrame(
            {
                "grader": graders,
                "judgments": 1,
                "rated": rated & decisive,
                "contradictions": contradiction,
                "tie_unequal": tie_unequal,
            }
        )
        .groupby("grader", sort=True)
        .sum()
    )
    three = per_group["models"].to_numpy(dtype=float) >= 3
    per_prompt = (
        pd.DataFrame(
            {
                "grader": per_group["g"].to_numpy(dtype=object),
                "prompts": three,
                "cyclic_prompts": per_group["cyclic"].to_numpy(dtype=bool),
                "triads": per_group["triads"].to_numpy(dtype=np.int64),
                "circular_triads": per_group["circular"].to_numpy(dtype=np.int64),
            }
        )
        .groupby("grader", sort=True)
        .sum()
    )
    summary = per_judgment.join(per_prompt, how="left").fillna(0).astype(np.int64)
    lowers, uppers = exact_intervals(
        summary["contradictions"].to_numpy(), summary["rated"].to_numpy(), confidence
    )
    rows = []
    for name, row, lower, upper in zip(
        summary.index, summary.to_dict(orient="records"), lowers, uppers, strict=True
    ):
        n_rated, n_contra = row["rated"], row["contradictions"]
        prompts_3, cyclic = row["prompts"], row["cyclic_prompts"]
        triads, circular = row["triads"], row["circular_triads"]
        rows.append(
            {
                "grader": str(name),
                "judgments": row["judgments"],
                "rated": n_rated,
                "contradictions": n_contra,
                "contradiction_rate": n_contra / n_rated if n_rated else math.nan,
                "ci_lower": lower,
                "ci_upper": upper,
                "tie_unequal": row["tie_unequal"],
                "prompts": prompts_3,
                "cyclic_prompts": cyclic,
                "cycle_rate": cyclic / prompts_3 if prompts_3 else math.nan,
                "triads": triads,
                "circular_triads": circular,
                "circular_triad_rate": circular / triads if triads else math.nan,
            }
        )
    cycles = pd.DataFrame(cycle_rows, columns=["grader", "prompt", "models", "cycle", "rows"])
    return Consistency(
        graders=pd.DataFrame(rows),
        contradictions=flagged.reset_index(drop=True),
        cycles=cycles,
        confidence=confidence,
    )


def _refuse_repeats(graders, prompts, first, second, grader: str, prompt: str) -> None:
    low = np.where(first < second, first, second)
    high = np.where(first < second, second, first)
    keys = pd.DataFrame({"g": graders, "p": prompts, "a": low, "b": high})
    repeated = keys.duplicated(keep="first").to_numpy()
    if repeated.any():
        twin = int(np.argmax(repeated))
        same = (keys == keys.iloc[twin]).all(axis=1).to_numpy()
        first_row = int(np.argmax(same))
        raise InputError(
            f"rows {first_row + 1} and {twin + 1}: {grader} {graders[twin]!r} judged "
            f"{low[twin]!r} and {high[twin]!r} on {prompt} {prompts[twin]!r} twice; keep one "
            "judgment per pair (repeats are for swap consistency)"
        )


def _rating_scores(values: pd.Series, scale: Sequence[str] | None):
    """Position of each rating on the scale (NaN where empty), and where a value is not a
    rating (not on the scale, or not a number when there is no scale)."""
    missing = missing_mask(values)
    out = np.full(len(values), np.nan)
    if scale is None:
        numbers = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float)
        out[~missing] = numbers[~missing]
        return out, ~missing & ~np.isfinite(numbers)
    order = {str(label): rank for rank, label in enumerate(scale)}
    # Each distinct label looked up once: 100,000 ratings use a handful of labels.
    codes, distinct = pd.factorize(pd.Series(values.tolist(), dtype=object), use_na_sentinel=True)
    ranks = np.array([order.get(_label_key(v), np.nan) for v in distinct], dtype=float)
    found = ranks[codes] if len(ranks) else np.full(len(values), np.nan)
    found[codes < 0] = np.nan
    out[~missing] = found[~missing]
    bad = ~missing & np.isnan(found)
    return out, bad


def _label_key(value) -> str:
    return str(int(value)) if isinstance(value, float) and value.is_integer() else str(value)


def _cycles(graders, prompts, first, second, verdicts):
    """Cycles and circular triads per (grader, prompt).

    Returns (cycle rows, per-group table with columns g, p, models, cyclic, triads,
    circular). Only groups with three or more decisive verdicts over three or more models
    can hold a cycle or a triad; the others are counted without a Python loop, which keeps
    100,000 judgments (mostly one or two per grader and prompt) fast."""
    decisive = np.isin(verdicts, [A, B])
    winner = np.where(verdicts == A, first, second)
    loser = np.where(verdicts == A, second, first)
    frame = pd.DataFrame(
        {"g": graders, "p": prompts, "w": winner, "l": loser, "row": np.arange(len(graders))}
    )[decisive]
    columns = ["g", "p", "models", "cyclic", "triads", "circular"]
    if frame.empty:
        return [], pd.DataFrame(columns=columns)
    # Integer codes: grouping 100,000 rows by two text columns is most of the cost otherwise.
    g_codes, g_names = pd.factorize(frame["g"].to_numpy(), sort=True)
    p_codes, p_names = pd.factorize(frame["p"].to_numpy(), sort=True)
    m_codes, _ = pd.factorize(np.concatenate([frame["w"].to_numpy(), frame["l"].to_numpy()]))
    key = g_codes.astype(np.int64) * len(p_names) + p_codes
    keys, group = np.unique(key, return_inverse=True)
    frame = frame.assign(group=group)
    rows = np.bincount(group)
    ends = np.unique(np.stack([np.concatenate([group, group]), m_codes], axis=1), axis=0)
    groups = pd.DataFrame(
        {
            "g": g_names[keys // len(p_names)],
            "p": p_names[keys % len(p_names)],
            "rows": rows,
            "models": np.bincount(ends[:, 0], minlength=len(keys)),
        }
    )
    groups["cyclic"] = False
    groups["triads"] = 0
    groups["circular"] = 0
    cycle_rows = []
    candidates = groups.index[(groups["rows"] >= 3) & (groups["models"] >= 3)]
    by_group = frame[frame["group"].isin(candidates)].groupby("group", sort=True)
    for at, members in by_group:
        index = int(at)  # type: ignore[arg-type]
        info, cycle = _one_group(members)
        groups.loc[index, ["cyclic", "triads", "circular"]] = (
            info["cyclic"],
            info["triads"],
            info["circular"],
        )
        if cycle is not None:
            cycle_rows.append(
                {"grader": groups["g"].iat[index], "prompt": groups["p"].iat[index], **cycle}
            )
    return cycle_rows, groups[columns].reset_index(drop=True)


def _one_group(group: pd.DataFrame) -> tuple[dict, dict | None]:
    """Triads and a cycle among one grader's decisive verdicts on one prompt."""
    models = np.unique(np.concatenate([group["w"].to_numpy(), group["l"].to_numpy()]))
    n = len(models)
    info = {"cyclic": False, "triads": 0, "circular": 0}
    w = np.searchsorted(models, group["w"].to_numpy())
    lo = np.searchsorted(models, group["l"].to_numpy())
    beats = np.zeros((n, n), dtype=bool)
    beats[w, lo] = True
    for i, j, k in combinations(range(n), 3):
        edges = [(i, j), (i, k), (j, k)]
        if all(beats[x, y] or beats[y, x] for x, y in edges):
            info["triads"] += 1
            wins = beats[[i, j, k]][:, [i, j, k]].sum(axis=1)
            if (wins == 1).all():
                info["circular"] += 1
    graph = sparse.csr_matrix(beats)
    count, labels = connected_components(graph, directed=True, connection="strong")
    if count == n:
        return info, None
    info["cyclic"] = True
    component = np.flatnonzero(labels == np.bincount(labels).argmax())
    cycle = _one_cycle(beats, component)
    edge_rows = {
        (wi, li): r
        for wi, li, r in zip(w.tolist(), lo.tolist(), group["row"].tolist(), strict=True)
    }
    return info, {
        "models": ", ".join(models[np.flatnonzero(np.bincount(labels)[labels] > 1)]),
        "cycle": " > ".join(models[cycle + [cycle[0]]]),
        "rows": [edge_rows[(a, b)] + 1 for a, b in zip(cycle, cycle[1:] + cycle[:1], strict=True)],
    }


def _one_cycle(beats: np.ndarray, component: np.ndarray) -> list[int]:
    """A directed cycle inside a strongly connected component (shortest from its first node,
    by breadth-first search back to the start)."""
    start = int(component[0])
    inside = set(component.tolist())
    parent: dict[int, int | None] = {start: None}
    frontier = [start]
    while frontier:
        nxt = []
        for node in frontier:
            for target in np.flatnonzero(beats[node]).tolist():
                if target == start:
                    path = [node]
                    while (before := parent[path[-1]]) is not None:
                        path.append(before)
                    return path[::-1]
                if target in inside and target not in parent:
                    parent[target] = node
                    nxt.append(target)
        frontier = nxt
    raise AssertionError("a strongly connected component has a cycle")  # pragma: no cover
