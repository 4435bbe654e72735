"""scoring.io: reading CSV, JSON Lines, JSON and Parquet, and rejecting bad files."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from scoring.errors import InputError
from scoring.io import read_table

TABLE = pd.DataFrame(
    {
        "model_a": ["7", "b"],
        "model_b": ["b", "7"],
        "winner": ["model_a", "tie"],
        "score": [0.5, 1.0],
    }
)


def write(path, fmt: str) -> None:
    if fmt == "csv":
        TABLE.to_csv(path, index=False)
    elif fmt == "jsonl":
        path.write_text("\n".join(json.dumps(r) for r in TABLE.to_dict("records")) + "\n\n")
    elif fmt == "json":
        path.write_text(json.dumps(TABLE.to_dict("records")))
    else:
        TABLE.to_parquet(path, index=False)


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "json", "parquet"])
def test_every_format_reads_the_same_table(tmp_path, fmt):
    path = tmp_path / f"battles.{fmt}"
    write(path, fmt)
    table = read_table(path, text_columns=["model_a", "model_b", "winner"])
    assert [str(v) for v in table["model_a"]] == ["7", "b"]
    assert table["score"].tolist() == [0.5, 1.0]


def test_numbers_in_text_columns_stay_text(tmp_path):
    path = tmp_path / "battles.jsonl"
    path.write_text('{"model_a": 7, "model_b": 8.0, "winner": "tie"}\n')
    table = read_table(path, text_columns=["model_a", "model_b"])
    assert table["model_a"].tolist() == ["7"] and table["model_b"].tolist() == ["8"]


def test_json_may_hold_column_lists(tmp_path):
    path = tmp_path / "t.json"
    path.write_text(json.dumps({"a": [1, 2], "b": ["x", "y"]}))
    assert read_table(path).shape == (2, 2)


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("t.txt", "a,b\n1,2\n", "unsupported file type '.txt'"),
        ("t", "a,b\n1,2\n", "unsupported file type '\\(none\\)'"),
        ("t.csv", "", "the file is empty"),
        ("t.csv", "a,b\n", "no data rows"),
        ("t.jsonl", '{"a": 1}\n{"a": \n', "line 2 is not valid JSON"),
        ("t.jsonl", '{"a": 1}\n[1, 2]\n', "line 2 is not a JSON object"),
        ("t.json", "[1, 2]", "row 1 is not a JSON object"),
        ("t.json", '{"a": 1}', "expected a JSON list"),
        ("t.json", "{bad", "not valid JSON"),
        ("t.parquet", "not parquet", "not a valid Parquet file"),
        ("t.csv", b"\xff\xfe\x00bad", "cannot read|not a valid CSV"),
    ],
)
def test_bad_files_raise_one_line_input_errors(tmp_path, name, content, message):
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    with pytest.raises(InputError, match=message) as caught:
        read_table(path)
    assert "\n" not in str(caught.value)


def test_missing_file_and_directory(tmp_path):
    with pytest.raises(InputError, match="no such file"):
        read_table(tmp_path / "absent.csv")
    folder = tmp_path / "folder.csv"
    folder.mkdir()
    with pytest.raises(InputError, match="is a directory"):
        read_table(folder)
