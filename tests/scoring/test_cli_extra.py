"""`python -m scoring` for issue 13: leaderboard --ties davidson and --control, and the
position, consistency, tags and schedule commands.

Run in-process through `scoring.cli.main` (the argument parsing, output and exit status of
the real command); one subprocess checks that the module entry point knows the commands.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from scoring.cli import main
from scoring.davidson import simulate_davidson

REPO = Path(__file__).resolve().parents[2]
NAMES = np.array(["alpha", "beta", "gamma", "delta"], dtype=object)


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("cli13")
    rng = np.random.default_rng(0)
    battles = simulate_davidson(np.array([60.0, 0.0, -30.0, 90.0]), 0.7, 600, rng=rng, names=NAMES)
    battles["question_id"] = [f"q{k % 30}" for k in range(len(battles))]
    battles.to_json(folder / "battles.jsonl", orient="records", lines=True)
    responses = [
        {
            "question_id": f"q{q}",
            "model": model,
            "text": ("# Title\n" if (q + m) % 3 == 0 else "")
            + "word " * int(rng.integers(5, 120))
            + ("\n- item\n- item" if (q + m) % 2 else "")
            + (" **bold**" if (q + m) % 4 == 0 else ""),
        }
        for q in range(30)
        for m, model in enumerate(NAMES)
    ]
    pd.DataFrame(responses).to_csv(folder / "responses.csv", index=False)
    judgments = pd.DataFrame(
        {
            "grader": ["ann"] * 12 + ["judge-gpt"] * 12,
            "grader_kind": ["human"] * 12 + ["model"] * 12,
            "verdict": ["a", "b", "tie"] * 4 + ["a"] * 12,
            "a_on_left": [True, False, True] * 4 + [True] * 11 + [False],
        }
    )
    judgments.to_csv(folder / "judgments.csv", index=False)
    repeats = pd.DataFrame(
        {
            "grader": ["ann", "ann"],
            "verdict": ["a", "b"],
            "a_on_left": [True, True],
            "repeat_verdict": ["b", "b"],
            "repeat_a_on_left": [False, False],
        }
    )
    repeats.to_csv(folder / "repeats.csv", index=False)
    rated = pd.DataFrame(
        {
            "grader": ["ann"] * 3,
            "prompt": ["p1"] * 3,
            "model_a": ["x", "y", "x"],
            "model_b": ["y", "z", "z"],
            "verdict": ["a", "a", "b"],
            "rating_a": ["good", "good", "poor"],
            "rating_b": ["poor", "poor", "good"],
        }
    )
    rated.to_csv(folder / "rated.csv", index=False)
    tagged = []
    for k in range(200):
        a, b = NAMES[k % 4], NAMES[(k + 1) % 4]
        untrue_a, untrue_b = k % 3 == 0, k % 5 == 0
        a_wins = (not untrue_a and (untrue_b or k % 2 == 0)) if untrue_a != untrue_b else k % 2 == 0
        tagged.append(
            {
                "model_a": a,
                "model_b": b,
                "verdict": "a" if a_wins else "b",
                "tags_a": "untrue" if untrue_a else "",
                "tags_b": "untrue" if untrue_b else "",
                "language": "en" if k % 2 else "de",
            }
        )
    pd.DataFrame(tagged).to_csv(folder / "tagged.csv", index=False)
    return {
        "battles": folder / "battles.jsonl",
        "responses": folder / "responses.csv",
        "judgments": folder / "judgments.csv",
        "repeats": folder / "repeats.csv",
        "rated": folder / "rated.csv",
        "tagged": folder / "tagged.csv",
        "folder": folder,
    }


def run(capsys, *args) -> tuple[int, str, str]:
    status = main([str(a) for a in args])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def test_leaderboard_with_davidson_ties_keeps_the_row_contract(capsys, files):
    status, out, err = run(
        capsys,
        "leaderboard",
        files["battles"],
        "--ties",
        "davidson",
        "--bootstrap",
        "50",
        "--format",
        "json",
    )
    assert status == 0, err
    rows = json.loads(out)
    assert {r["model"] for r in rows} == set(NAMES)
    for row in rows:
        assert {"model", "rating", "ci_lower", "ci_upper", "battles", "rank"} <= row.keys()
        assert row["tie_ci_lower"] <= row["tie_parameter"] <= row["tie_ci_upper"]
    status, out, _ = run(
        capsys, "leaderboard", files["battles"], "--ties", "davidson", "--bootstrap", "20"
    )
    assert status == 0 and "Davidson tie parameter nu" in out


def test_leaderboard_with_style_control(capsys, files):
    status, out, err = run(
        capsys,
        "leaderboard",
        files["battles"],
        "--control",
        "length,markdown",
        "--responses",
        files["responses"],
        "--ties",
        "davidson",
        "--format",
        "json",
    )
    assert status == 0, err
    result = json.loads(out)
    assert [c["feature"] for c in result["style_coefficients"]] == [
        "length",
        "headers",
        "lists",
        "bold",
    ]
    assert {r["model"] for r in result["leaderboard"]} == set(NAMES)
    assert result["tie_parameter"]["ci_lower"] <= result["tie_parameter"]["nu"]
    status, out, _ = run(
        capsys,
        "leaderboard",
        files["battles"],
        "--control",
        "length",
        "--responses",
        files["responses"],
    )
    assert status == 0 and "Style coefficients" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--control", "length"], "error: --control needs --responses FILE"),
        (["--responses", "RESPONSES"], "error: --responses is only used with --control"),
        (["--control", "emoji", "--responses", "RESPONSES"], "unknown style control 'emoji'"),
    ],
)
def test_leaderboard_option_mistakes_are_one_line(capsys, files, args, message):
    args = [str(files["responses"]) if a == "RESPONSES" else a for a in args]
    status, out, err = run(capsys, "leaderboard", files["battles"], *args)
    assert status == 2 and out == ""
    assert message in err and len(err.strip().splitlines()) == 1


def test_a_missing_response_names_the_battle_row(capsys, files):
    partial = pd.read_csv(files["responses"])
    partial = partial[~((partial["question_id"] == "q3") & (partial["model"] == "beta"))]
    path = files["folder"] / "partial.csv"
    partial.to_csv(path, index=False)
    status, _, err = run(
        capsys, "leaderboard", files["battles"], "--control", "length", "--responses", path
    )
    battles = pd.read_json(files["battles"], lines=True)
    first = int(
        np.flatnonzero(
            (battles["question_id"] == "q3")
            & ((battles["model_a"] == "beta") | (battles["model_b"] == "beta"))
        )[0]
    )
    assert status == 2
    assert f"error: row {first + 1}: no response of model 'beta' to question_id 'q3'" in err


def test_position_command(capsys, files):
    status, out, err = run(
        capsys, "position", files["judgments"], "--repeats", files["repeats"], "--format", "json"
    )
    assert status == 0, err
    result = json.loads(out)
    graders = {g["grader"]: g for g in result["position"]["graders"]}
    assert graders["judge-gpt"]["left"] == 11 and graders["judge-gpt"]["decisive"] == 12
    assert [p["kind"] for p in result["position"]["pooled"]] == ["all", "human", "model"]
    assert result["swap_consistency"]["graders"][0]["left_flips"] == 1
    status, out, _ = run(capsys, "position", files["judgments"])
    assert status == 0 and "left side" in out


def test_consistency_command(capsys, files):
    status, out, err = run(
        capsys, "consistency", files["rated"], "--scale", "poor,ok,good", "--format", "json"
    )
    assert status == 0, err
    result = json.loads(out)
    assert result["graders"][0]["contradictions"] == 0
    assert result["cycles"][0]["cycle"] == "x > y > z > x"
    status, _, err = run(capsys, "consistency", files["rated"], "--scale", "bad,good")
    assert status == 2 and "row 1: rating_b 'poor' is not on the scale" in err


def test_tags_command(capsys, files):
    status, out, err = run(capsys, "tags", files["tagged"], "--by", "language", "--format", "json")
    assert status == 0, err
    result = json.loads(out)
    assert {row["language"] for row in result["tags"]} == {"de", "en"}
    assert result["interval"].startswith("profile")
    status, out, _ = run(capsys, "tags", files["tagged"], "--no-model-control")
    assert status == 0 and "untrue" in out


def test_schedule_command(capsys, files):
    status, out, err = run(
        capsys, "schedule", files["battles"], "--plan", "3", "--budget", "1000", "--format", "json"
    )
    assert status == 0, err
    result = json.loads(out)
    assert result["stop"] is False and result["votes"] == 600
    assert len(result["plan"]) == 3
    assert result["pairs"][0]["priority"] == 1
    status, out, _ = run(capsys, "schedule", files["battles"], "--budget", "500")
    assert status == 0 and "yes (budget)" in out
    status, _, err = run(capsys, "schedule", files["battles"], "--models", "alpha,beta")
    assert status == 2 and "is not in the model list" in err


def test_the_module_entry_point_lists_the_commands():
    out = subprocess.run(
        [sys.executable, "-m", "scoring", "--help"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    for name in ("position", "consistency", "tags", "schedule"):
        assert name in out
    help_text = subprocess.run(
        [sys.executable, "-m", "scoring", "leaderboard", "--help"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "davidson" in help_text and "--responses" in help_text and "question_id" in help_text
