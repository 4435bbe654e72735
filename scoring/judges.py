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
    set_a, set_b = set(raters_a), set(raters_b)
    matches = pairs = 0
    items_used = 0
    for _, group in votes.groupby(item, sort=False):
        cast = dict(zip(group[rater], group[vote], strict=True))
        counted = 0
        for ra, va in cast.items():
            if ra not in set_a:
                continue
            for rb, vb in cast.items():
                if rb == ra or rb not in set_b:
                    continue
                if not ties and (va in TIES or vb in TIES):
                    continue
                counted += 1
                matches += va == vb
        pairs += counted
        items_used += counted > 0
    return VoteAgreement(
        agreement=matches / pairs if pairs else None,
        pairs=pairs,
        items=items_used,
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
