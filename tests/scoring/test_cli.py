"""`python -m scoring`: the contract in ../shared/DESIGN.md.

Each case runs the real command in a subprocess; the subprocesses of the module start
together from one fixture (each spends most of its time importing pandas), and every test
asserts on its own case. Bad input must give one line on stderr naming the problem (and
row), exit status 2, and never a traceback. Rarer bad inputs run in-process via `main`.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pandas as pd
import pytest

from scoring.cli import main

REPO = Path(__file__).resolve().parents[2]


def battle_rows() -> list[dict]:
    rows = []
    for i in range(60):
        a, b = ["gpt", "claude", "llama"][i % 3], ["claude", "llama", "gpt"][i % 3]
        rows.append(
            {
                "model_a": a,
                "model_b": b,
                "question_id": f"q{i // 3}",
                "winner": ["model_a", "model_a", "model_b", "tie", "tie (bothbad)"][i % 5],
            }
        )
    return rows


def jsonl(rows: list[dict]) -> str:
    return "\n".join(json.dumps(r) for r in rows) + "\n"


RATING_ROWS = [
    {
        "prompt": f"p{i}",
        "model": model,
        "language": ["en", "de"][i % 2],
        "label": "good" if (i + j) % 3 else "poor",
    }
    for i in range(20)
    for j, model in enumerate(["a", "b"])
]
SCORES_CSV = pd.DataFrame(
    {
        "model": list("aabbccdd"),
        "good_rate": [1, 0.5, 0.2, 0.4, 0.9, 1, 0, 0.1],
        "bleu": [30, 25, 12, 20, 28, 33, 5, 9],
    }
).to_csv(index=False)
AGREEMENT_CSV = pd.DataFrame(
    {
        "item": [1, 1, 2, 2, 3, 3, 4, 4],
        "grader": ["a", "b"] * 4,
        "value": ["good", "good", "poor", "good", "poor", "poor", "ok", "ok"],
    }
).to_csv(index=False)

# name: (file name, file content, arguments after the command's FILE)
BAD = {
    "missing column": ("b.csv", "model_a,model_b\nx,y\n", ["leaderboard"]),
    "unknown winner": ("b.csv", "model_a,model_b,winner\nx,y,model_a\nx,z,draw\n", ["leaderboard"]),
    "self battle": ("b.csv", "model_a,model_b,winner\nx,y,model_a\nq,q,tie\n", ["leaderboard"]),
    "empty file": ("b.csv", "", ["leaderboard"]),
    "unknown extension": ("b.txt", "model_a,model_b,winner\nx,y,tie\n", ["leaderboard"]),
    "unreadable file": ("b.parquet", "garbage", ["leaderboard"]),
    "non-numeric score": (
        "s.csv",
        "human,metric\n1,0.5\n2,high\n3,0.7\n",
        ["correlate", "--human", "human", "--metric", "metric"],
    ),
}
EXPECTED = {
    "missing column": "error: the battle table has no column 'winner' (columns found: "
    "model_a, model_b)",
    "unknown winner": "error: row 2: unknown winner 'draw' (expected one of: model_a, model_b, "
    "tie, tie (bothbad))",
    "self battle": "error: row 2: model 'q' battles itself (model_a equals model_b)",
    "empty file": "the file is empty",
    "unknown extension": "unsupported file type '.txt'",
    "unreadable file": "not a valid Parquet file",
    "non-numeric score": "error: row 2: metric is not a number: 'high'",
}
GOOD = {
    "leaderboard json": (
        "battles.jsonl",
        jsonl(battle_rows()),
        ["leaderboard", "--bootstrap", "50", "--seed", "3", "--format", "json"],
    ),
    "leaderboard table": (
        "battles.jsonl",
        jsonl(battle_rows()),
        ["leaderboard", "--bootstrap", "20"],
    ),
    "agreement json": (
        "ratings.csv",
        AGREEMENT_CSV,
        ["agreement", "--level", "nominal", "--bootstrap", "50", "--format", "json"],
    ),
    "correlate json": (
        "scores.csv",
        SCORES_CSV,
        [
            "correlate",
            "--human",
            "good_rate",
            "--metric",
            "bleu",
            "--by",
            "model",
            "--bootstrap",
            "50",
            "--format",
            "json",
        ],
    ),
    "grr json": (
        "ratings.jsonl",
        jsonl(RATING_ROWS),
        ["grr", "--good", "good", "--format", "json"],
    ),
    "compare json": (
        "ratings.jsonl",
        jsonl(RATING_ROWS),
        [
            "compare",
            "--model-a",
            "a",
            "--model-b",
            "b",
            "--good",
            "good",
            "--resamples",
            "500",
            "--format",
            "json",
        ],
    ),
    "unidentified": (
        "u.csv",
        "model_a,model_b,winner\nchamp,b,model_a\nb,c,tie\nc,champ,model_b\n",
        ["leaderboard", "--bootstrap", "20", "--format", "json"],
    ),
}
COMMANDS = ["leaderboard", "agreement", "correlate", "grr", "compare"]


def run(argv: list[str]) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    env.pop("SCORING_DEBUG", None)
    return subprocess.run(
        [sys.executable, "-m", "scoring", *argv],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.fixture(scope="module")
def results(tmp_path_factory) -> dict[str, subprocess.CompletedProcess]:
    folder = tmp_path_factory.mktemp("cli")
    jobs = {}
    for number, (name, (file_name, content, args)) in enumerate({**BAD, **GOOD}.items()):
        path = folder / str(number) / file_name
        path.parent.mkdir()
        path.write_text(content)
        jobs[name] = [args[0], str(path), *args[1:]]
    for command in COMMANDS:
        jobs[f"help {command}"] = [command, "--help"]
    jobs["missing file"] = ["leaderboard", str(folder / "absent.csv")]
    jobs["bad option"] = ["leaderboard", str(folder / "absent.csv"), "--bootstrap", "many"]
    with ThreadPoolExecutor(max_workers=max(2, os.cpu_count() or 2)) as pool:
        done = dict(zip(jobs, pool.map(run, jobs.values()), strict=True))
    return done


@pytest.mark.parametrize("case", list(BAD))
def test_it_reports_bad_input_in_one_line_with_status_2(results, case):
    done = results[case]
    assert done.returncode == 2, done.stderr
    assert EXPECTED[case] in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    assert "Traceback" not in done.stderr and done.stdout == ""


def test_it_reports_a_missing_file_and_bad_options(results):
    assert results["missing file"].returncode == 2
    assert "no such file" in results["missing file"].stderr
    bad_option = results["bad option"]
    assert bad_option.returncode == 2 and "--bootstrap" in bad_option.stderr
    assert len(bad_option.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help(results, command):
    done = results[f"help {command}"]
    assert done.returncode == 0
    assert done.stdout.startswith(f"usage: python -m scoring {command}")
    assert "--format" in done.stdout


def test_leaderboard_json_shape(results):
    done = results["leaderboard json"]
    assert done.returncode == 0, done.stderr
    rows = json.loads(done.stdout)
    assert {row["model"] for row in rows} == {"gpt", "claude", "llama"}
    for row in rows:
        assert {"model", "rating", "ci_lower", "ci_upper", "battles", "rank"} <= set(row)
        assert row["ci_lower"] <= row["rating"] <= row["ci_upper"]
    assert [row["rating"] for row in rows] == sorted((r["rating"] for r in rows), reverse=True)


def test_leaderboard_table_output(results):
    done = results["leaderboard table"]
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[0].split()[:4] == ["model", "rating", "ci_lower", "ci_upper"]


def test_agreement_json_shape(results):
    done = results["agreement json"]
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert {
        "krippendorff_alpha",
        "n_items",
        "n_graders",
        "fleiss_kappa",
        "percent_agreement",
    } <= set(data)
    assert (data["n_items"], data["n_graders"], data["percent_agreement"]) == (4, 2, 0.75)


def test_correlate_json_shape(results):
    done = results["correlate json"]
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    for method in ("pearson", "spearman", "kendall"):
        assert {"r", "p", "ci_lower", "ci_upper", "n"} <= set(data[method])
        assert data[method]["n"] == 4  # --by model: four systems


def test_grr_and_compare_json_shape(results):
    table = json.loads(results["grr json"].stdout)
    assert [row["model"] for row in table] == ["a", "b"]
    assert {"n", "k", "rate", "ci_lower", "ci_upper"} <= set(table[0])
    done = results["compare json"]
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert {"difference", "ci_lower", "ci_upper", "p_value", "n"} <= set(data)
    assert data["n"] == 20 and "n_needed" in data["judgments_needed"]


def test_unidentified_ratings_warn_on_stderr_but_succeed(results):
    done = results["unidentified"]
    assert done.returncode == 0
    assert done.stderr.startswith("warning:") and "'champ'" in done.stderr
    assert json.loads(done.stdout)[0]["model"] == "champ"


# --------------------------------------------------------------------------- in-process


@pytest.mark.parametrize(
    ("file_name", "content", "args", "expected"),
    [
        ("b.jsonl", "\n\n", ["leaderboard"], "no data rows"),
        ("b.csv", "model_a,model_b,winner\n", ["leaderboard"], "no data rows"),
        (
            "b.jsonl",
            '{"model_a": "x", "model_b": "y", "winner": "tie"}\n{oops\n',
            ["leaderboard"],
            "line 2 is not valid JSON",
        ),
        (
            "r.csv",
            "item,grader,value\n1,a,2\n1,b,x\n",
            ["agreement", "--level", "interval"],
            "row 2: value is not a number: 'x'",
        ),
        (
            "r.csv",
            "prompt,model,label\np,a,good\n",
            ["grr", "--good", "good", "--group", "team"],
            "no column 'team'",
        ),
        ("r.csv", "prompt,model,label\np,a,good\n", ["grr"], "give --good"),
        (
            "b.csv",
            "model_a,model_b,winner\nx,y,tie\n",
            ["leaderboard", "--anchor", "z=1000"],
            "anchor model 'z'",
        ),
    ],
)
def test_more_bad_inputs_in_process(tmp_path, capsys, file_name, content, args, expected):
    path = tmp_path / file_name
    path.write_text(content)
    assert main([args[0], str(path), *args[1:]]) == 2
    captured = capsys.readouterr()
    assert expected in captured.err and captured.out == ""
    assert len(captured.err.strip().splitlines()) == 1


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_leaderboard_reads_csv_and_parquet(tmp_path, capsys, fmt):
    path = tmp_path / f"battles.{fmt}"
    frame = pd.DataFrame(battle_rows())
    frame.to_csv(path, index=False) if fmt == "csv" else frame.to_parquet(path, index=False)
    assert main(["leaderboard", str(path), "--bootstrap", "30", "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert {row["model"] for row in rows} == {"gpt", "claude", "llama"}


def test_grr_by_slice_and_tags_in_process(tmp_path, capsys):
    path = tmp_path / "ratings.jsonl"
    rows = [{**row, "tags": ["untrue"] if row["label"] == "poor" else []} for row in RATING_ROWS]
    path.write_text(jsonl(rows))
    assert main(["grr", str(path), "--good", "good", "--by", "language", "--format", "json"]) == 0
    sliced = json.loads(capsys.readouterr().out)
    assert {row["language"] for row in sliced["slices"]} == {"en", "de"}
    assert {"model", "gap", "flagged"} <= set(sliced["parity"][0])
    assert main(["grr", str(path), "--tags", "tags", "--format", "json"]) == 0
    tags = json.loads(capsys.readouterr().out)
    assert {(row["model"], row["tag"]) for row in tags} == {("a", "untrue"), ("b", "untrue")}


def test_compare_win_rate_and_tables_in_process(tmp_path, capsys):
    path = tmp_path / "battles.jsonl"
    path.write_text(jsonl(battle_rows()))
    assert (
        main(
            [
                "compare",
                str(path),
                "--model-a",
                "gpt",
                "--model-b",
                "claude",
                "--measure",
                "win_rate",
                "--unit",
                "question_id",
                "--resamples",
                "200",
            ]
        )
        == 0
    )
    assert "difference A - B" in capsys.readouterr().out
    ratings = tmp_path / "ratings.csv"
    ratings.write_text(AGREEMENT_CSV)
    assert main(["agreement", str(ratings), "--level", "nominal", "--bootstrap", "20"]) == 0
    assert "krippendorff_alpha" in capsys.readouterr().out
    scores = tmp_path / "scores.csv"
    scores.write_text(SCORES_CSV)
    assert (
        main(
            [
                "correlate",
                str(scores),
                "--human",
                "good_rate",
                "--metric",
                "bleu",
                "--bootstrap",
                "20",
            ]
        )
        == 0
    )
    assert "kendall" in capsys.readouterr().out
