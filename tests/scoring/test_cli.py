"""`python -m scoring`: the contract in ../shared/DESIGN.md.

Each case runs the command's entry point `main` in-process on real files, capturing what it
writes to stdout and stderr (one subprocess checks that `python -m scoring` itself runs).
Bad input must give one line on stderr naming the problem (and row), exit status 2, and
never a traceback.
"""

from __future__ import annotations

import contextlib
import gzip
import io
import json
import os
import subprocess
import sys
from dataclasses import dataclass
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
    "unknown winner": "error: row 2: unknown winner 'draw' (expected model_a, model_b, tie, "
    "tie (bothbad), both_bad, or another 'tie (…)' label)",
    "self battle": "error: row 2: model 'q' battles itself (model_a equals model_b;",
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
COMMANDS = ["leaderboard", "judges", "agreement", "correlate", "grr", "compare"]


@dataclass
class Done:
    returncode: int
    stdout: str
    stderr: str


def run(argv: list[str]) -> Done:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(argv)
    return Done(code, out.getvalue(), err.getvalue())


def test_python_dash_m_scoring_runs():
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run(
        [sys.executable, "-m", "scoring", "--help"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0 and done.stdout.startswith("usage: python -m scoring")


@pytest.fixture(scope="module")
def results(tmp_path_factory) -> dict[str, Done]:
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
    return {name: run(argv) for name, argv in jobs.items()}


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
    assert data["n"] == 20 and "n_needed" in data["prompts_needed"]
    assert data["test"].startswith("sign-flip permutation") and "judgments_needed" not in data
    # RATING_ROWS has one rating per (prompt, model): the clustered interval is Wilson's.
    assert {row["interval"] for row in table} == {"wilson"}


def test_unidentified_ratings_warn_on_stderr_but_succeed(results):
    done = results["unidentified"]
    assert done.returncode == 0
    assert done.stderr.startswith("warning:") and "'champ'" in done.stderr
    top = json.loads(done.stdout)[0]
    assert top["model"] == "champ" and top["unbounded"] == "above" and top["rating"] is None
    assert top["low_battles"] is True and top["component"] == 1


def test_leaderboard_input_options_and_gzip(tmp_path):
    rows = battle_rows() + [
        {"model_a": "gpt", "model_b": "gpt", "winner": "tie"},
        {"model_a": "gpt", "model_b": "llama", "winner": "tie (inconsistent)"},
    ]
    path = tmp_path / "battles.jsonl.gz"
    with gzip.open(path, "wt", encoding="utf-8") as handle:
        handle.write(jsonl(rows))
    strict = run(["leaderboard", str(path), "--bootstrap", "10"])
    assert strict.returncode == 2
    assert "row 61: model 'gpt' battles itself" in strict.stderr
    base = ["leaderboard", str(path), "--bootstrap", "0", "--format", "json"]
    counts = {}
    for extra in ([], ["--ties", "drop"], ["--both-bad", "drop"]):
        done = run([*base, "--drop-self-battles", *extra])
        assert done.returncode == 0, done.stderr
        board = json.loads(done.stdout)
        counts[" ".join(extra)] = sum(r["battles"] for r in board) // 2
    # 60 battles + the inconsistent tie; 24 ties of which 12 both-bad.
    assert counts == {"": 61, "--ties drop": 36, "--both-bad drop": 49}
    csv_gz = tmp_path / "battles.csv.gz"
    pd.DataFrame(battle_rows()).to_csv(csv_gz, index=False)
    assert run(["leaderboard", str(csv_gz), "--bootstrap", "0"]).returncode == 0


def test_leaderboard_prints_one_table_per_component(tmp_path):
    path = tmp_path / "b.csv"
    path.write_text("model_a,model_b,winner\na,b,model_a\nb,a,model_a\nc,d,tie\nd,c,model_a\n")
    done = run(["leaderboard", str(path), "--bootstrap", "20"])
    assert done.returncode == 0
    assert "Component 1" in done.stdout and "Component 2" in done.stdout
    assert "2 separate groups" in done.stderr


def test_judges_command(tmp_path):
    path = tmp_path / "votes.csv"
    rows = ["item,turn,grader,verdict"]
    for q in range(6):
        for turn in (1, 2):
            judge = "tie (inconsistent)" if q == 0 else "model_a"
            rows += [
                f"{q},{turn},gpt-4,{judge}",
                f"{q},{turn},h1,tie" if q == 0 else f"{q},{turn},h1,model_a",
                f"{q},{turn},h2,model_b",
            ]
    path.write_text("\n".join(rows) + "\n")
    done = run(["judges", str(path), "--judge", "gpt-4", "--format", "json"])
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert data["judges"] == ["gpt-4"] and data["humans"] == 2
    overall = {r["comparison"]: r for r in data["rows"] if r["turn"] == "all"}
    judge, humans = overall["gpt-4 vs humans"], overall["humans vs humans"]
    assert (judge["pairs_with_ties"], humans["pairs_with_ties"]) == (24, 12)
    assert judge["agreement_with_ties"] == pytest.approx(0.5)
    assert humans["agreement_with_ties"] == 0.0 and humans["pairs_without_ties"] == 10
    assert {"kappa_with_ties", "kappa_without_ties"} <= set(judge)
    table = run(["judges", str(path), "--judge", "gpt-4"])
    assert "humans vs humans" in table.stdout
    path.write_text("item,grader,verdict\n1,gpt-4,a\n1,h,a\n1,h,b\n")
    dup = run(["judges", str(path), "--judge", "gpt-4"])
    assert dup.returncode == 2 and "row 3: grader 'h' voted twice" in dup.stderr


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


def test_grr_by_slice_shows_n_intervals_and_tests_only_big_enough_slices(tmp_path, capsys):
    path = tmp_path / "ratings.jsonl"
    path.write_text(jsonl(RATING_ROWS))
    args = ["grr", str(path), "--good", "good", "--by", "language", "--cluster", "none"]
    assert main([*args, "--format", "json"]) == 0
    sliced = json.loads(capsys.readouterr().out)
    assert all({"n", "ci_lower", "ci_upper"} <= set(row) for row in sliced["slices"])
    assert all(row["gap"] is None and not row["flagged"] for row in sliced["parity"])
    assert main([*args, "--min-n", "1", "--alpha", "0.5", "--format", "json"]) == 0
    parity = json.loads(capsys.readouterr().out)["parity"]
    assert all(row["compared"] == 2 and row["p_value"] is not None for row in parity)
    assert main([*args, "--min-n", "1"]) == 0
    text = capsys.readouterr().out
    assert "slices of at least 1 rows; flagged when significant at 0.05" in text
    assert "p_value" in text


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
