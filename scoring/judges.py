"""Agreement between judges (e.g. an LLM judge and human graders) on pairwise verdicts.

Following MT-Bench (Zheng et al. 2023, "Judging LLM-as-a-Judge with MT-Bench and
Chatbot Arena", section 4.2 and Table 5), the agreement between two kinds of rater is the
probability that a randomly chosen rater of one kind and a randomly chosen different rater
of the other agree on a randomly chosen item: over every item and every pair of different
raters (one of kind A, one of kind B) who both voted on it, the share of pairs with the same
vote. Each unordered pair of raters counts once per item, so for human-human agreement three
humans on one item make three pairs (Table 5 counts 721 human-human pairs on turn 1 with
ties, 479 without). "With ties" (setup S1) counts every vote, a tie being a vote like any
other; "without ties" (setup S2) keeps only the pairs in which neither vote is a tie.

Verdicts are read with the one vocabulary (`scoring.verdicts`): both ties (``tie``,
``tie (bothbad)``/``both_bad``) and any other ``tie (…)`` label such as GPT-4's
``tie (inconsistent)`` are the same vote, a tie; an unknown label is an `InputError` naming
it and its row.

Cohen's kappa (Cohen 1960) is computed over the same pairs: for judge-human, from the table
of (judge vote, human vote); for pairs within one kind, which have no natural order, from
the symmetrised table (each unordered pair once, both orders at half weight), which is
Scott's pi on pairs (Scott 1955).

A committee of judges votes by majority on each item (Verga et al. 2024,
"Replacing Judges with Juries"); with no strict majority its vote is a tie.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from scoring.errors import InputError, row_error
from scoring.tables import jsonable, require_columns, require_present, require_table
from scoring.verdicts import TIE, A, B, to_verdicts

# Votes as compared here: a tie of either kind is one vote.
_CODES = {A: 0, B: 1, TIE: 2}


@dataclass(frozen=True)
class VoteAgreement:
    """Share of agreeing (rater A, rater B) vote pairs and Cohen's kappa over the same pairs
    (see the module docstring); None where no pair was counted or kappa is undefined."""

    agreement: float | None
    pairs: int
    items: int
    ties_included: bool
    kappa: float | None

    def to_dict(self) -> dict:
        """Plain JSON-ready dict (NaN becomes None)."""
        return jsonable(self)  # type: ignore[return-value]


def _votes(
    votes: pd.DataFrame, item: str | Sequence[str], rater: str, vote: str
) -> tuple[pd.DataFrame, list[str]]:
    """Item key, rater and vote code per row; a rater voting twice on an item is an error."""
    keys = [item] if isinstance(item, str) else list(item)
    votes = require_table(votes, "votes")
    require_columns(votes, [*keys, rater, vote], "votes")
    require_present(votes, [*keys, rater])
    verdicts = to_verdicts(votes[vote], what=vote)
    kinds, distinct = pd.factorize(np.asarray(verdicts, dtype=object))
    codes = np.array([_CODES.get(v, _CODES[TIE]) for v in distinct], dtype=np.int64)[kinds]
    raters = votes[rater]
    if isinstance(raters.dtype, pd.StringDtype) and not raters.isna().any():
        names = raters.array  # already text: str() of each is itself
    else:
        names = raters.map(str).to_numpy()
    frame = pd.DataFrame({"rater": names, "code": codes})
    frame["item"] = _item_codes(votes[keys])
    frame["row"] = np.arange(len(frame))
    repeated = frame.duplicated(["item", "rater"], keep=False).to_numpy()
    if repeated.any():
        later = frame.duplicated(["item", "rater"], keep="first").to_numpy()
        position = int(np.argmax(later))
        same = frame[
            (frame["item"] == frame["item"].iloc[position])
            & (frame["rater"] == frame["rater"].iloc[position])
        ]
        shown = ", ".join(f"{k}={str(votes[k].iloc[position])!r}" for k in keys)
        raise row_error(
            position,
            f"grader {frame['rater'].iloc[position]!r} voted twice on item {shown} "
            f"(also in row {int(same['row'].iloc[0]) + 1})",
        )
    return frame, keys


def _item_codes(items: pd.DataFrame) -> np.ndarray:
    """Codes of the items (the key columns' values as text) in order of first appearance;
    one integer column is coded as it is (distinct integers are distinct texts)."""
    if items.shape[1] == 1 and items.dtypes.iloc[0].kind in "iu":
        return pd.factorize(items.iloc[:, 0])[0]
    return pd.MultiIndex.from_frame(items.astype(str)).factorize()[0]


def vote_agreement(
    votes: pd.DataFrame,
    raters_a: Collection,
    raters_b: Collection,
    *,
    ties: bool = True,
    item: str | Sequence[str] = "item",
    rater: str = "grader",
    vote: str = "value",
) -> VoteAgreement:
    """Agreement between raters in `raters_a` and raters in `raters_b` on shared items.

    `votes` is long format (item, rater, vote), one vote per rater and item (a second one
    is an `InputError` naming the row); `item` may name several columns (e.g. question and
    turn). A rater is never paired with itself, and a pair of raters who are both in
    `raters_a` and in `raters_b` counts once per item, so the same set may be passed twice
    for the agreement within one kind (e.g. human-human).
    """
    frame, _keys = _votes(votes, item, rater, vote)
    set_a = {str(r) for r in raters_a}
    set_b = {str(r) for r in raters_b}
    left = frame[frame["rater"].isin(set_a)]
    right = frame[frame["rater"].isin(set_b)]
    pairs = left.merge(right, on="item", suffixes=("_a", "_b"))
    ra, rb = pairs["rater_a"], pairs["rater_b"]
    both = (ra.isin(list(set_b)) & rb.isin(list(set_a))).to_numpy(dtype=bool)
    # A pair of raters from both sets appears in both orders: keep one.
    keep = ((ra != rb).to_numpy(dtype=bool)) & (~both | (ra < rb).to_numpy(dtype=bool))
    pairs = pairs[keep]
    symmetric = both[keep]
    if not ties:
        decided = (pairs["code_a"] != _CODES[TIE]) & (pairs["code_b"] != _CODES[TIE])
        symmetric = symmetric[decided.to_numpy()]
        pairs = pairs[decided]
    count = len(pairs)
    if count == 0:
        return VoteAgreement(None, 0, 0, ties, None)
    code_a, code_b = pairs["code_a"].to_numpy(), pairs["code_b"].to_numpy()
    size = 3 if ties else 2
    weight = np.where(symmetric, 0.5, 1.0)
    table = np.zeros((size, size))
    np.add.at(table, (code_a, code_b), weight)
    np.add.at(table, (code_b[symmetric], code_a[symmetric]), 0.5)
    return VoteAgreement(
        agreement=float((code_a == code_b).mean()),
        pairs=count,
        items=int(pairs["item"].nunique()),
        ties_included=ties,
        kappa=_kappa(table),
    )


def _kappa(table: np.ndarray) -> float | None:
    """Cohen's kappa (p_o - p_e) / (1 - p_e) from a table of pair counts."""
    shares = table / table.sum()
    observed = float(np.trace(shares))
    expected = float(shares.sum(axis=1) @ shares.sum(axis=0))
    if expected >= 1 - 1e-12:
        return None
    return (observed - expected) / (1 - expected)


def committee_votes(
    votes: pd.DataFrame,
    judges: Collection,
    *,
    name: str = "committee",
    item: str = "item",
    rater: str = "grader",
    vote: str = "value",
) -> pd.DataFrame:
    """The majority vote of `judges` on each item they voted on, as rows of rater `name`.

    A strict majority of the judges who voted wins; anything else is a tie. Votes are
    verdicts (``a``, ``b``, ``tie``), ties of every kind counted as one.
    """
    frame, _keys = _votes(votes, item, rater, vote)
    chosen = {str(j) for j in judges}
    mine = frame[frame["rater"].isin(chosen)]
    labels = np.array([A, B, TIE], dtype=object)
    keys = votes[item].to_numpy(dtype=object)
    rows = []
    for _code, group in mine.groupby("item", sort=True):
        tally = np.bincount(group["code"].to_numpy(), minlength=3)
        top = int(np.argmax(tally))
        verdict = labels[top] if tally[top] * 2 > len(group) else TIE
        rows.append({item: keys[int(group["row"].iloc[0])], rater: name, vote: verdict})
    return pd.DataFrame(rows, columns=[item, rater, vote])


@dataclass(frozen=True)
class JudgeReport:
    """Judge-human and human-human agreement (`judge_report`): one row per comparison and
    turn, with the agreement, pair count and Cohen's kappa with and without ties."""

    judges: list[str]
    humans: int
    rows: pd.DataFrame

    def to_dict(self) -> dict:
        """Plain JSON-ready dict (NaN becomes None)."""
        return jsonable(self)  # type: ignore[return-value]


def judge_report(
    votes: pd.DataFrame,
    judges: Collection,
    *,
    item: str = "item",
    rater: str = "grader",
    vote: str = "verdict",
    turn: str | None = None,
) -> JudgeReport:
    """Each judge's agreement with the human graders, and the humans' among themselves.

    Every rater not in `judges` is a human. With `turn` (a column such as MT-Bench's turn
    1 / 2), an item is a (question, turn) pair and there is one row per turn and one for
    all turns together; otherwise one row per comparison. Columns: ``turn`` (None without
    a turn column, else the turn or "all"), ``comparison``, ``judge``,
    ``agreement_with_ties``, ``pairs_with_ties``, ``kappa_with_ties``,
    ``agreement_without_ties``, ``pairs_without_ties``, ``kappa_without_ties``, ``items``.
    """
    keys = [item] if turn is None else [item, turn]
    frame, _keys = _votes(votes, keys, rater, vote)  # validates once, naming rows
    chosen = sorted({str(j) for j in judges})
    raters = set(frame["rater"])
    for judge in chosen:
        if judge not in raters:
            raise InputError(f"judge {judge!r} has no vote in the table")
    humans = raters - set(chosen)
    if not humans:
        raise InputError("no human votes: every grader in the table is a judge")
    turns: list[object] = [None]
    if turn is not None:
        found = sorted(votes[turn].astype(str).unique(), key=_turn_order)
        turns = [*found, "all"] if len(found) > 1 else found
    rows = []
    for which in turns:
        part = votes
        if which not in (None, "all"):
            part = votes[votes[turn].astype(str).to_numpy() == which]
        comparisons: list[tuple[str, str | None, set[str]]]
        comparisons = [(f"{j} vs humans", j, {j}) for j in chosen]
        comparisons.append(("humans vs humans", None, humans))
        for label, judge, group in comparisons:  # type: ignore[assignment]
            with_ties = vote_agreement(part, group, humans, item=keys, rater=rater, vote=vote)
            without = vote_agreement(
                part, group, humans, ties=False, item=keys, rater=rater, vote=vote
            )
            rows.append(
                {
                    "turn": which,
                    "comparison": label,
                    "judge": judge,
                    "agreement_with_ties": with_ties.agreement,
                    "pairs_with_ties": with_ties.pairs,
                    "kappa_with_ties": with_ties.kappa,
                    "agreement_without_ties": without.agreement,
                    "pairs_without_ties": without.pairs,
                    "kappa_without_ties": without.kappa,
                    "items": with_ties.items,
                }
            )
    return JudgeReport(judges=chosen, humans=len(humans), rows=pd.DataFrame(rows))


def _turn_order(value: str) -> tuple[int, float, str]:
    try:
        return (0, float(value), value)
    except ValueError:
        return (1, 0.0, value)
