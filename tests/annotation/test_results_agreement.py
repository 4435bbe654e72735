"""annotation.results.agreement: agreement per question and per grader, and AI judges."""

from annotation.results.agreement import agreement, judges, rating_table, tag_table
from tests.annotation.studydata import study_data

BATTLES = [
    ("p1", "x", "y", "model_a", "g1"),
    ("p1", "x", "y", "model_a", "g2"),
    ("p2", "x", "y", "model_b", "g1"),
    ("p2", "x", "y", "tie", "g2"),
    ("p3", "x", "y", "model_a", "g1"),
    ("p3", "x", "y", "model_a", "g2"),
]


def test_a_graders_latest_rating_of_a_response_is_the_one_that_counts():
    data = study_data(
        ratings=[
            ("p1", "x", "g1", "poor", []),
            ("p1", "x", "g1", "good", ["untrue"]),  # g1 rated x on p1 again, later
            ("p1", "x", "g2", "good", []),
        ]
    )
    table = rating_table(data)
    assert sorted(map(tuple, table.to_numpy().tolist())) == [(1, "g1", "good"), (1, "g2", "good")]
    tags = tag_table(data, "untrue")
    assert sorted(zip(tags["grader"], tags["value"], strict=True)) == [("g1", 1), ("g2", 0)]


def test_each_question_reports_alpha_or_why_not():
    data = study_data(BATTLES, [("p1", "x", "g1", "good", [])], tags=["harmful"])
    payload = agreement(data, bootstrap=20)
    verdict, rating, tag = payload["questions"]
    assert (verdict["question"], verdict["level"]) == ("verdict", "nominal")
    # 2 of 3 items agree: percent agreement 2/3.
    assert verdict["percent_agreement"] == 2 / 3 and verdict["n_graders"] == 2
    assert verdict["cohen_kappa_pairs"] == 1 and len(verdict["cohen_kappas"]) == 1
    assert rating == {
        "question": "rating",
        "level": "ordinal",
        "error": "needs judgments from at least two graders on the same items",
    }
    assert tag["question"] == "tag: harmful" and "error" in tag


def test_the_grader_table_joins_majority_agreement_counts_and_quality():
    data = study_data(
        BATTLES,
        judges=[("p1", "x", "y", "tie", "robo")],
        quality=[("g1", 4, 0.75, 21.0, None)],
    )
    graders = {g["grader"]: g for g in agreement(data, bootstrap=0)["graders"]}
    assert graders["g1"] == {
        "grader": "g1",
        "agreement_with_majority": 2 / 3,  # with g2's vote on 2 of 3 items
        "kind": "human",
        "judgments": 3,
        "gold_seen": 4,
        "gold_accuracy": 0.75,
        "median_seconds": 21.0,
        "tie_share": None,
    }
    assert graders["robo"] == {"grader": "robo", "kind": "model_judge", "judgments": 1}


def test_model_judges_are_compared_with_the_humans_and_as_a_committee():
    data = study_data(
        BATTLES,
        judges=[
            ("p1", "x", "y", "a", "j1"),
            ("p1", "x", "y", "b", "j2"),
            ("p3", "x", "y", "a", "j1"),
        ],
    )
    payload = judges(data)
    assert payload["humans"] == 2 and payload["model_judges"] == ["j1", "j2"]
    rows = {r["judge"]: r for r in payload["rows"]}
    # Humans: p1 a/a, p2 b/tie, p3 a/a -> 4 of 6 ordered pairs agree.
    assert rows["humans (with each other)"]["agreement_with_ties"] == 4 / 6
    assert (rows["j1"]["agreement_with_ties"], rows["j1"]["pairs_with_ties"]) == (1.0, 4)
    assert rows["j2"]["agreement_with_ties"] == 0.0
    # j1 and j2 split on p1: the committee says tie there; on p3 only j1 voted (a).
    assert rows["committee of judges"]["pairs_with_ties"] == 4
    assert rows["committee of judges"]["agreement_with_ties"] == 0.5


def test_without_model_judges_only_the_humans_are_listed():
    assert [r["judge"] for r in judges(study_data(BATTLES))["rows"]] == ["humans (with each other)"]
