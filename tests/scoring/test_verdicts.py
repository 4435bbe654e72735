"""The one verdict vocabulary: every accepted label, and errors that name the value."""

import pandas as pd
import pytest

from scoring.errors import InputError
from scoring.verdicts import ARENA_WINNER, VERDICTS, is_tie, score_first, to_verdict, to_verdicts


@pytest.mark.parametrize(
    ("label", "verdict"),
    [
        ("a", "a"),
        ("model_a", "a"),
        ("b", "b"),
        ("model_b", "b"),
        ("tie", "tie"),
        ("tie (inconsistent)", "tie"),  # MT-Bench's GPT-4 judge when its two orders disagree
        ("tie (bothbad)", "both_bad"),  # Chatbot Arena's logs
        ("both_bad", "both_bad"),
    ],
)
def test_it_maps_every_accepted_label(label, verdict):
    assert to_verdict(label) == verdict


@pytest.mark.parametrize("label", ["A", "model_c", "", " tie", "tie(", "draw", None, 1])
def test_it_refuses_anything_else_naming_the_value(label):
    with pytest.raises(InputError, match="unknown verdict") as err:
        to_verdict(label)
    assert repr(label) in str(err.value)


def test_a_column_error_names_the_row_and_value():
    with pytest.raises(InputError, match=r"row 3: unknown winner 'draw'"):
        to_verdicts(pd.Series(["model_a", "tie (inconsistent)", "draw"]), what="winner")
    with pytest.raises(InputError, match=r"row 2: winner is empty"):
        to_verdicts(pd.Series(["model_a", None]), what="winner")


def test_a_column_maps_vectorised():
    got = to_verdicts(pd.Series(["model_b", "tie (bothbad)", "tie (inconsistent)", "a"]))
    assert list(got) == ["b", "both_bad", "tie", "a"]


def test_round_trip_through_the_arena_labels():
    for verdict in VERDICTS:
        assert to_verdict(ARENA_WINNER[verdict]) == verdict


def test_ties_and_scores():
    assert [is_tie(v) for v in VERDICTS] == [False, False, True, True]
    assert [score_first(v) for v in VERDICTS] == [1.0, 0.0, 0.5, 0.5]
