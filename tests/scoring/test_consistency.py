"""scoring.consistency: verdicts against the grader's own ratings, and preference cycles.

Cycles and circular triads are checked on hand-built graphs and against Kendall & Babington
Smith's (1940) closed form for complete tournaments: circular triads =
C(n, 3) - sum_i C(s_i, 2), with s_i the wins of model i.
"""

from __future__ import annotations

from itertools import combinations
from math import comb

import numpy as np
import pandas as pd
import pytest

from scoring.consistency import rating_consistency
from scoring.errors import InputError

SCALE = ["poor", "acceptable", "good"]


def judgment(grader, prompt, a, b, verdict, rating_a=None, rating_b=None, **extra):
    return {
        "grader": grader,
        "prompt": prompt,
        "model_a": a,
        "model_b": b,
        "verdict": verdict,
        "rating_a": rating_a,
        "rating_b": rating_b,
        **extra,
    }


def test_it_flags_verdicts_against_the_graders_own_ratings():
    table = pd.DataFrame(
        [
            judgment("g", "p1", "x", "y", "a", "good", "poor", judgment_id=1),  # agrees
            judgment("g", "p2", "x", "y", "a", "poor", "good", judgment_id=2),  # contradicts
            judgment("g", "p3", "x", "y", "model_b", "good", "acceptable", judgment_id=3),
            judgment("g", "p4", "x", "y", "b", "good", "good", judgment_id=4),  # equal: fine
            judgment("g", "p5", "x", "y", "tie", "good", "poor", judgment_id=5),  # tie_unequal
            judgment("g", "p6", "x", "y", "a", None, "good", judgment_id=6),  # not rated
            judgment("h", "p1", "x", "y", "both_bad", "poor", "poor", judgment_id=7),
        ]
    )
    result = rating_consistency(table, scale=SCALE)
    flagged = result.contradictions
    assert flagged["judgment_id"].tolist() == [2, 3, 5]
    assert flagged["row"].tolist() == [2, 3, 5]
    assert flagged["kind"].tolist() == ["contradiction", "contradiction", "tie_unequal"]
    g = result.graders.set_index("grader").loc["g"]
    assert (g["judgments"], g["rated"], g["contradictions"], g["tie_unequal"]) == (6, 4, 2, 1)
    assert g["contradiction_rate"] == pytest.approx(0.5)
    assert g["ci_lower"] < 0.5 < g["ci_upper"]


def test_numeric_ratings_need_no_scale_and_text_ratings_do():
    table = pd.DataFrame([judgment("g", "p", "x", "y", "a", 1, 3)])
    assert rating_consistency(table).graders.loc[0, "contradictions"] == 1
    with pytest.raises(InputError, match="row 1: rating_a is 'poor'; give the rating scale"):
        rating_consistency(pd.DataFrame([judgment("g", "p", "x", "y", "a", "poor", "good")]))
    with pytest.raises(InputError, match="row 1: rating_b 'great' is not on the scale"):
        rating_consistency(
            pd.DataFrame([judgment("g", "p", "x", "y", "a", "poor", "great")]), scale=SCALE
        )


def test_it_finds_a_three_cycle_and_names_its_rows():
    table = pd.DataFrame(
        [
            judgment("g", "p", "A", "B", "a"),
            judgment("g", "p", "B", "C", "a"),
            judgment("g", "p", "A", "C", "b"),  # C beats A: A > B > C > A
            judgment("g", "q", "A", "B", "a"),
            judgment("g", "q", "B", "C", "a"),
            judgment("g", "q", "A", "C", "a"),  # transitive
        ]
    )
    result = rating_consistency(table)
    assert result.cycles[["prompt", "models", "cycle"]].values.tolist() == [
        ["p", "A, B, C", "A > B > C > A"]
    ]
    assert result.cycles.loc[0, "rows"] == [1, 2, 3]
    g = result.graders.iloc[0]
    assert (g["prompts"], g["cyclic_prompts"], g["triads"], g["circular_triads"]) == (2, 1, 2, 1)


def test_a_four_cycle_without_a_complete_triad_is_still_a_cycle():
    table = pd.DataFrame(
        [
            judgment("g", "p", "A", "B", "a"),
            judgment("g", "p", "B", "C", "a"),
            judgment("g", "p", "C", "D", "a"),
            judgment("g", "p", "D", "A", "a"),
        ]
    )
    result = rating_consistency(table)
    assert result.cycles.loc[0, "cycle"] == "A > B > C > D > A"
    g = result.graders.iloc[0]
    assert (g["cyclic_prompts"], g["triads"], g["circular_triads"]) == (1, 0, 0)


def test_ties_neither_make_nor_break_cycles():
    table = pd.DataFrame(
        [
            judgment("g", "p", "A", "B", "a"),
            judgment("g", "p", "B", "C", "tie"),
            judgment("g", "p", "A", "C", "b"),
        ]
    )
    result = rating_consistency(table)
    assert result.cycles.empty
    assert result.graders.iloc[0]["triads"] == 0


def test_circular_triads_match_kendalls_formula_on_random_tournaments():
    rng = np.random.default_rng(11)
    for trial in range(20):
        n = int(rng.integers(3, 8))
        models = [f"m{k}" for k in range(n)]
        rows, wins = [], np.zeros(n, dtype=int)
        for i, j in combinations(range(n), 2):
            a_wins = rng.random() < 0.5
            wins[i if a_wins else j] += 1
            rows.append(judgment("g", f"p{trial}", models[i], models[j], "a" if a_wins else "b"))
        result = rating_consistency(pd.DataFrame(rows)).graders.iloc[0]
        expected = comb(n, 3) - sum(comb(int(s), 2) for s in wins)
        assert result["triads"] == comb(n, 3)
        assert result["circular_triads"] == expected
        assert result["cyclic_prompts"] == (1 if expected > 0 else 0)


def test_a_pair_judged_twice_on_one_prompt_is_refused_naming_both_rows():
    table = pd.DataFrame(
        [
            judgment("g", "p", "A", "B", "a"),
            judgment("g", "p", "A", "C", "a"),
            judgment("g", "p", "B", "A", "a"),
        ]
    )
    with pytest.raises(InputError, match="rows 1 and 3: grader 'g' judged 'A' and 'B' on prompt"):
        rating_consistency(table)


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ([judgment("g", "p", "A", "A", "a")], "row 1: model 'A' is paired with itself"),
        ([judgment("g", "p", "A", "B", "maybe")], "row 1: unknown verdict 'maybe'"),
        ([judgment(None, "p", "A", "B", "a")], "row 1: grader is empty"),
    ],
)
def test_bad_rows_are_named(rows, message):
    with pytest.raises(InputError, match=message):
        rating_consistency(pd.DataFrame(rows))
