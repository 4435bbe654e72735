"""The one verdict vocabulary: every label a file, a judge or the database may use for the
outcome of a pairwise comparison, mapped to one of four verdicts.

Verdicts are named from the first response's side, as stored (`Judgment.Verdict`) and as
in arena battle logs (``model_a`` is the first model of the battle):

    ``a``         the first response/model is better
    ``b``         the second is better
    ``tie``       equally good
    ``both_bad``  equally bad (a tie in every statistic that counts ties)

Labels accepted for each (and nothing else, anywhere: an unknown label is an
`InputError` naming it):

    ``a``         ``a``, ``model_a``
    ``b``         ``b``, ``model_b``
    ``tie``       ``tie`` and any other ``tie (…)`` label, such as MT-Bench's
                  ``tie (inconsistent)`` (Zheng et al. 2023: GPT-4's two orderings disagreed)
    ``both_bad``  ``both_bad``, ``tie (bothbad)`` (Chatbot Arena's logs)

Both ties are ties: agreement on verdicts, win rates (a tie as half a win) and
Bradley-Terry with ``ties="half"`` treat them alike unless a caller asks otherwise.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from scoring.errors import InputError, row_error

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

A, B, TIE, BOTH_BAD = "a", "b", "tie", "both_bad"
VERDICTS = (A, B, TIE, BOTH_BAD)
TIES = frozenset({TIE, BOTH_BAD})

# A verdict as the `winner` of an arena battle record (what `python -m scoring leaderboard`
# and the arena export use).
ARENA_WINNER = {A: "model_a", B: "model_b", TIE: "tie", BOTH_BAD: "tie (bothbad)"}

_LABELS = {
    "a": A,
    "model_a": A,
    "b": B,
    "model_b": B,
    "tie": TIE,
    "both_bad": BOTH_BAD,
    "tie (bothbad)": BOTH_BAD,
}
EXPECTED = "model_a, model_b, tie, tie (bothbad), both_bad, or another 'tie (…)' label"


def parse_verdict(label: object) -> str | None:
    """The verdict a label stands for, or None when it is not one of the accepted labels."""
    if not isinstance(label, str):
        return None
    verdict = _LABELS.get(label)
    if verdict is None and label.startswith("tie (") and label.endswith(")"):
        return TIE
    return verdict


def to_verdict(label: object, *, what: str = "verdict") -> str:
    """The verdict a label stands for; an unknown label raises `InputError` naming it."""
    verdict = parse_verdict(label)
    if verdict is None:
        raise InputError(f"unknown {what} {label!r} (expected {EXPECTED})")
    return verdict


def to_verdicts(values: pd.Series, *, what: str = "verdict") -> np.ndarray:
    """Verdicts for a column of labels, as an object array; the first unknown or empty label
    raises `InputError` naming the value and its 1-based row."""
    # numpy and pandas only here: the streaming exports parse verdicts one at a time and
    # stay light without them (77 MB before the first row).
    import numpy as np
    import pandas as pd

    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    if (codes < 0).any():
        raise row_error(int(np.argmax(codes < 0)), f"{what} is empty")
    mapped = np.array([parse_verdict(u) for u in uniques], dtype=object)
    unknown = np.array([m is None for m in mapped], dtype=bool)
    if unknown.any():
        position = int(np.argmax(unknown[codes]))
        raise row_error(
            position, f"unknown {what} {uniques[codes[position]]!r} (expected {EXPECTED})"
        )
    return mapped[codes] if len(mapped) else np.array([], dtype=object)


def is_tie(verdict: str) -> bool:
    """Whether a verdict (already parsed) is either kind of tie."""
    return verdict in TIES


def score_first(verdict: str) -> float:
    """The first side's score in a verdict: 1 for a win, 0 for a loss, 1/2 for either tie."""
    return {A: 1.0, B: 0.0}.get(verdict, 0.5)
