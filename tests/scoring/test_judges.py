"""MT-Bench style agreement between judges and humans, and committee votes."""

import pandas as pd
import pytest

from scoring.judges import committee_votes, vote_agreement


def table(rows):
    return pd.DataFrame(rows, columns=["item", "grader", "value"])


VOTES = table(
    [
        # item 1: judge says a; humans a, a, b
        (1, "judge", "a"),
        (1, "h1", "a"),
        (1, "h2", "a"),
        (1, "h3", "b"),
        # item 2: judge tie; humans b, tie
        (2, "judge", "tie"),
        (2, "h1", "b"),
        (2, "h2", "tie"),
        # item 3: only the judge voted
        (3, "judge", "b"),
    ]
)


def test_agreement_with_ties_counts_every_judge_human_pair():
    # Pairs by hand: item 1: (a,a) (a,a) (a,b) -> 2 of 3; item 2: (tie,b) (tie,tie) -> 1 of 2.
    result = vote_agreement(VOTES, {"judge"}, {"h1", "h2", "h3"})
    assert (result.pairs, result.items) == (5, 2)
    assert result.agreement == pytest.approx(3 / 5)


def test_agreement_without_ties_drops_pairs_with_a_tie():
    # Only item 1's three pairs remain: 2 of 3 agree.
    result = vote_agreement(VOTES, {"judge"}, {"h1", "h2", "h3"}, ties=False)
    assert (result.pairs, result.items, result.agreement) == (3, 1, pytest.approx(2 / 3))


def test_human_human_agreement_never_pairs_a_rater_with_itself():
    humans = {"h1", "h2", "h3"}
    # Ordered pairs on item 1: h1-h2 agree (x2), h1-h3, h2-h3 disagree (x2 each) -> 2/6;
    # item 2: h1-h2 disagree (x2) -> 0/2. In all 2/8.
    result = vote_agreement(VOTES, humans, humans)
    assert (result.pairs, result.agreement) == (8, pytest.approx(0.25))


def test_no_shared_items_gives_no_agreement():
    result = vote_agreement(table([(1, "judge", "a"), (2, "h1", "a")]), {"judge"}, {"h1"})
    assert result.agreement is None and result.pairs == 0


def test_committee_takes_the_strict_majority_else_a_tie():
    votes = table(
        [
            (1, "j1", "a"),
            (1, "j2", "a"),
            (1, "j3", "b"),
            (2, "j1", "a"),
            (2, "j2", "b"),
            (3, "j1", "b"),
            (3, "h", "a"),
        ]
    )
    committee = committee_votes(votes, {"j1", "j2", "j3"})
    assert committee.to_dict(orient="records") == [
        {"item": 1, "grader": "committee", "value": "a"},
        {"item": 2, "grader": "committee", "value": "tie"},
        {"item": 3, "grader": "committee", "value": "b"},
    ]


def test_missing_columns_are_an_input_error():
    from scoring.errors import InputError

    with pytest.raises(InputError):
        vote_agreement(pd.DataFrame({"item": [1]}), {"a"}, {"b"})


def _pairs_by_loop(votes, raters_a, raters_b, ties):
    """The definition, item by item: every (rater in A, other rater in B) pair of votes."""
    matches = pairs = items = 0
    for _, group in votes.groupby("item"):
        cast = dict(zip(group["grader"], group["value"], strict=True))
        counted = 0
        for ra, va in cast.items():
            for rb, vb in cast.items():
                if ra not in raters_a or rb not in raters_b or ra == rb:
                    continue
                if not ties and ({va, vb} & {"tie", "both_bad", "tie (bothbad)"}):
                    continue
                counted += 1
                matches += va == vb
        pairs += counted
        items += counted > 0
    return (matches / pairs if pairs else None), pairs, items


@pytest.mark.parametrize("ties", [True, False])
def test_agreement_counts_the_same_pairs_as_the_definition_item_by_item(ties):
    import numpy as np

    rng = np.random.default_rng(3)
    graders = [f"h{i}" for i in range(12)] + ["j1", "j2"]
    rows = [
        (item, grader, rng.choice(["a", "b", "tie", "both_bad"]))
        for item in range(300)
        for grader in rng.choice(graders, size=rng.integers(1, 6), replace=False)
    ]
    votes = table(rows)
    humans = {g for g in graders if g.startswith("h")}
    for raters in (humans, {"j1"}, {"j1", "j2"}):
        result = vote_agreement(votes, raters, humans, ties=ties)
        assert (result.agreement, result.pairs, result.items) == _pairs_by_loop(
            votes, raters, humans, ties
        )
