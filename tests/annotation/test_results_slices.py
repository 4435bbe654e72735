"""annotation.results.slices: win rate and GRR per metadata slice, with parity gaps."""

from annotation.results.slices import slice_results
from annotation.results.store import clean
from tests.annotation.studydata import study_data


def test_each_metadata_column_and_the_prompt_length_are_sliced():
    data = study_data(
        [
            ("p1", "x", "y", "model_a", "g"),
            ("p2", "x", "y", "model_b", "g"),
            ("p3", "x", "y", "model_a", "g"),
        ],
        [("p1", "x", "g", "good", []), ("p2", "x", "g", "poor", [])],
        prompts={"p1": {"lang": "en"}, "p2": {"lang": "de"}, "p3": {"lang": "en"}},
    )
    before = list(data.battles.columns)
    payload = clean(slice_results(data, threshold=0.1))
    assert [s["column"] for s in payload["slices"]] == ["lang", "prompt_length"]
    lang = payload["slices"][0]
    table = {(r["lang"], r["model"]): r["win_rate"] for r in lang["win_rate"]["table"]}
    assert table == {("de", "x"): 0.0, ("de", "y"): 1.0, ("en", "x"): 1.0, ("en", "y"): 0.0}
    # One or two battles per slice: each row has n and an interval, and no gap is claimed.
    row = {(r["lang"], r["model"]): r for r in lang["win_rate"]["table"]}[("de", "x")]
    assert row["n"] == 1 and row["ci_upper"] > 0.5
    gap = {g["model"]: g for g in lang["win_rate"]["gaps"]}["x"]
    assert (gap["gap"], gap["flagged"]) == (None, False)
    assert {r["lang"] for r in lang["grr"]["table"]} == {"de", "en"}
    assert list(data.battles.columns) == before  # the snapshot is not changed


def test_no_data_no_slices():
    assert slice_results(study_data(models=["x"])) == {"threshold": 0.03, "slices": []}


def test_a_large_significant_gap_is_flagged():
    battles = [(f"e{i}", "x", "y", "model_a", "g") for i in range(40)]
    battles += [(f"d{i}", "x", "y", "model_b", "g") for i in range(40)]
    prompts = {f"e{i}": {"lang": "en"} for i in range(40)}
    prompts.update({f"d{i}": {"lang": "de"} for i in range(40)})
    payload = clean(slice_results(study_data(battles, prompts=prompts), threshold=0.1))
    lang = payload["slices"][0]
    gap = {g["model"]: g for g in lang["win_rate"]["gaps"]}["x"]
    assert (gap["gap"], gap["flagged"]) == (1.0, True)
    assert gap["p_value"] < 0.05
