"""MT-Bench style agreement between judges and humans, Cohen's kappa, committee votes."""

import numpy as np
import pandas as pd
import pytest

from scoring.errors import InputError
from scoring.judges import committee_votes, judge_report, vote_agreement


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


def test_human_human_agreement_counts_each_unordered_pair_once():
    humans = {"h1", "h2", "h3"}
    # Item 1: h1-h2 agree, h1-h3 and h2-h3 disagree -> 1 of 3; item 2: h1-h2 disagree.
    # In all 1 of 4 pairs (before: 8 ordered pairs, as if each pair had voted twice).
    result = vote_agreement(VOTES, humans, humans)
    assert (result.pairs, result.agreement) == (4, pytest.approx(0.25))


def test_mt_bench_tie_labels_are_ties():
    # GPT-4's "tie (inconsistent)" (its two orders disagreed) is a tie, as is a both-bad
    # tie: judge and human agree on item 1 and 2 (before: .5, the first counted as a miss).
    votes = table(
        [
            (1, "gpt-4", "tie (inconsistent)"),
            (1, "h1", "tie"),
            (2, "gpt-4", "model_a"),
            (2, "h1", "model_a"),
            (3, "gpt-4", "tie (inconsistent)"),
            (3, "h1", "tie (bothbad)"),
            (4, "gpt-4", "model_b"),
            (4, "h1", "model_a"),
        ]
    )
    result = vote_agreement(votes, {"gpt-4"}, {"h1"})
    assert (result.pairs, result.agreement) == (4, pytest.approx(0.75))
    assert vote_agreement(votes, {"gpt-4"}, {"h1"}, ties=False).pairs == 2


def test_an_unknown_label_or_a_duplicate_vote_is_an_error_naming_the_row():
    with pytest.raises(InputError, match="row 2: unknown value 'draw'"):
        vote_agreement(table([(1, "j", "a"), (1, "h", "draw")]), {"j"}, {"h"})
    with pytest.raises(InputError, match=r"row 3: grader 'h' voted twice on item item='1' "):
        vote_agreement(table([(1, "j", "a"), (1, "h", "a"), (1, "h", "b")]), {"j"}, {"h"})


def test_kappa_equals_cohens_for_a_judge_and_scotts_pi_within_humans():
    rng = np.random.default_rng(0)
    judge = rng.choice(["a", "b", "tie"], 200, p=[0.45, 0.4, 0.15])
    human = np.where(rng.random(200) < 0.6, judge, rng.choice(["a", "b", "tie"], 200))
    rows = [(i, "j", judge[i]) for i in range(200)] + [(i, "h", human[i]) for i in range(200)]
    result = vote_agreement(table(rows), {"j"}, {"h"})
    # Cohen's kappa by hand: (p_o - p_e) / (1 - p_e) from the two raters' marginals.
    p_o = np.mean(judge == human)
    p_e = sum(np.mean(judge == c) * np.mean(human == c) for c in ("a", "b", "tie"))
    assert result.kappa == pytest.approx((p_o - p_e) / (1 - p_e))
    # Within one kind the marginals are pooled (Scott's pi): p_e from the mean shares.
    pooled = table(rows)
    within = vote_agreement(pooled, {"j", "h"}, {"j", "h"})
    p_e = sum(((np.mean(judge == c) + np.mean(human == c)) / 2) ** 2 for c in ("a", "b", "tie"))
    assert within.pairs == 200 and within.kappa == pytest.approx((p_o - p_e) / (1 - p_e))


def test_no_shared_items_gives_no_agreement():
    result = vote_agreement(table([(1, "judge", "a"), (2, "h1", "a")]), {"judge"}, {"h1"})
    assert result.agreement is None and result.pairs == 0 and result.kappa is None


def test_committee_takes_the_strict_majority_else_a_tie():
    votes = table(
        [
            (1, "j1", "a"),
            (1, "j2", "model_a"),
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


def test_judge_report_per_turn_and_overall():
    rows = []
    for q in range(4):
        for turn in (1, 2):
            rows += [
                (q, turn, "gpt-4", "model_a" if q % 2 else "tie (inconsistent)"),
                (q, turn, "h1", "model_a" if q % 2 else "tie"),
                (q, turn, "h2", "model_a"),
                (q, turn, "h3", "model_b" if q == 0 else "model_a"),
            ]
    votes = pd.DataFrame(rows, columns=["item", "turn", "grader", "verdict"])
    report = judge_report(votes, {"gpt-4"}, turn="turn")
    assert report.humans == 3
    rows = report.rows.set_index(["turn", "comparison"])
    assert list(rows.index.get_level_values("turn").unique()) == ["1", "2", "all"]
    one = rows.loc[("1", "gpt-4 vs humans")]
    # Per turn: 4 questions x 3 humans = 12 judge-human pairs; 4 x 3 = 12 human pairs.
    assert (
        one["pairs_with_ties"] == 12
        and rows.loc[("1", "humans vs humans")]["pairs_with_ties"] == 12
    )
    # q0: judge tie vs (tie, a, b): 1 of 3; q2: tie vs (tie, a, a): 1; q1, q3: 3 each.
    assert one["agreement_with_ties"] == pytest.approx(8 / 12)
    assert rows.loc[("all", "gpt-4 vs humans")]["pairs_with_ties"] == 24
    with pytest.raises(InputError, match="judge 'claude' has no vote"):
        judge_report(votes, {"claude"}, turn="turn")


def test_missing_columns_are_an_input_error():
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
                # A pair of raters who are in both sets is one pair, not two.
                if ra in raters_b and rb in raters_a and ra > rb:
                    continue
                if not ties and ({va, vb} & {"tie", "both_bad", "tie (bothbad)"}):
                    continue
                counted += 1
                # Both kinds of tie are one category (scoring.verdicts: "both bad" is a tie).
                matches += va.replace("both_bad", "tie") == vb.replace("both_bad", "tie")
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
