"""Agreement between judges (e.g. an LLM judge and human graders) on pairwise verdicts.

Following MT-Bench (Zheng et al. 2023, "Judging LLM-as-a-Judge with MT-Bench and
Chatbot Arena", section 4.2), the agreement between two kinds of rater is the
probability that a randomly chosen rater of one kind and a randomly chosen
rater of the other agree on a randomly chosen item: over every item and every
pair (rater of kind A, different rater of kind B) who both voted on it, the
share of pairs with the same vote. "With ties" (their setup S1) counts every
vote, a tie being a vote like any other; "without ties" (setup S2) keeps only
the pairs in which neither vote is a tie.

A committee of judges votes by majority on each item (Verga et al. 2024,
"Replacing Judges with Juries"); with no strict majority its vote is a tie.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection
from dataclasses import asdict, dataclass

import pandas as pd

from scoring.tables import require_columns, require_table

TIES = frozenset({"tie", "both_bad", "tie (bothbad)"})


@dataclass(frozen=True)
class VoteAgreement:
    """Share of agreeing (rater A, rater B) vote pairs; see the module docstring."""

    agreement: float | None
    pairs: int
    items: int
    ties_included: bool

    def to_dict(self) -> dict:
        return asdict(self)


def vote_agreement(
    votes: pd.DataFrame,
    raters_a: Collection,
    raters_b: Collection,
    *,
    ties: bool = True,
    item: str = "item",
    rater: str = "grader",
    vote: str = "value",
) -> VoteAgreement:
    """Agreement between raters in `raters_a` and raters in `raters_b` on shared items.

    `votes` is long format (item, rater, vote), one vote per rater and item. Pairs
    of a rater with itself are never counted, so the same set may be passed twice
    for the agreement within one kind (e.g. human-human). Votes in `TIES` are ties.
    """
    votes = require_table(votes, "votes")
    require_columns(votes, [item, rater, vote], "votes")
    # Every (rater A, rater B) pair of votes on an item, from a self-join on the item: the
    # cost follows the number of pairs, not items times a Python loop. A rater's later vote
    # on the same item replaces the earlier one.
    cast = votes[[item, rater, vote]].drop_duplicates([item, rater], keep="last")
    side_a = cast[cast[rater].isin(list(set(raters_a)))]
    side_b = cast[cast[rater].isin(list(set(raters_b)))]
    if not ties:
        side_a = side_a[~side_a[vote].isin(list(TIES))]
        side_b = side_b[~side_b[vote].isin(list(TIES))]
    pairs = side_a.merge(side_b, on=item, suffixes=("_a", "_b"))
    pairs = pairs[(pairs[f"{rater}_a"] != pairs[f"{rater}_b"]).to_numpy()]
    matches = int((pairs[f"{vote}_a"] == pairs[f"{vote}_b"]).sum())
    return VoteAgreement(
        agreement=matches / len(pairs) if len(pairs) else None,
        pairs=len(pairs),
        items=int(pairs[item].nunique()),
        ties_included=ties,
    )


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

    A strict majority of the judges who voted wins; anything else is a "tie".
    """
    votes = require_table(votes, "votes")
    require_columns(votes, [item, rater, vote], "votes")
    mine = votes[votes[rater].isin(set(judges))]
    rows = []
    for key, group in mine.groupby(item, sort=True):
        counts = Counter(group[vote])
        top, n = counts.most_common(1)[0]
        rows.append({item: key, rater: name, vote: top if n * 2 > len(group) else "tie"})
    return pd.DataFrame(rows, columns=[item, rater, vote])
