"""Reading tables from files: CSV, JSON Lines, JSON and Parquet.

Every problem with a file (missing, unreadable, empty, malformed, unknown extension) becomes
a one-line `scoring.errors.InputError`, so the CLI can report it without a traceback.
"""

from __future__ import annotations

import gzip
import json
import zlib
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

import pandas as pd

from scoring.errors import InputError

EXTENSIONS = (".csv", ".jsonl", ".json", ".parquet", ".csv.gz", ".jsonl.gz", ".json.gz")


def read_table(path: str | Path, *, text_columns: Sequence[str] = ()) -> pd.DataFrame:
    """Read a table from a .csv, .jsonl, .json or .parquet file into a DataFrame.

    Parameters
    ----------
    path
        The file. The format is chosen by the extension (case-insensitive); .csv, .jsonl
        and .json may be gzip-compressed with a further ``.gz``.
    text_columns
        Columns to keep as text even when they look like numbers (model names such as
        "7" stay "7"). In Parquet files they are read dictionary-encoded into pandas
        categoricals, which keeps a million-battle file fast to load and to validate.

    A .json file holds a list of row objects or an object of equal-length column lists.
    Raises `InputError` for a missing, empty or malformed file, an unknown extension, or a
    table without data rows.
    """
    path = Path(path)
    suffix = "".join(path.suffixes[-2:]).lower() if path.suffix.lower() == ".gz" else ""
    suffix = suffix if suffix in EXTENSIONS else path.suffix.lower()
    if suffix not in EXTENSIONS:
        shown = suffix or "(none)"
        raise InputError(f"{path}: unsupported file type '{shown}' (use {', '.join(EXTENSIONS)})")
    if not path.exists():
        raise InputError(f"{path}: no such file")
    if path.is_dir():
        raise InputError(f"{path}: is a directory, not a file")
    try:
        if path.stat().st_size == 0:
            raise InputError(f"{path}: the file is empty")
        reader = {
            ".csv": _read_csv,
            ".jsonl": _read_jsonl,
            ".json": _read_json,
            ".parquet": _read_parquet,
        }[suffix.removesuffix(".gz")]
        df = reader(path, list(text_columns))
    except InputError:
        raise
    except (OSError, EOFError, UnicodeDecodeError, zlib.error) as exc:
        raise InputError(f"{path}: cannot read the file ({_one_line(exc)})") from exc
    if len(df.columns) == 0 or len(df) == 0:
        raise InputError(f"{path}: the file has no data rows")
    return df


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text[:200] or type(exc).__name__


def _read_csv(path: Path, text_columns: list[str]) -> pd.DataFrame:
    try:
        return pd.read_csv(path, dtype={c: str for c in text_columns}, compression="infer")
    except pd.errors.EmptyDataError as exc:
        raise InputError(f"{path}: the file is empty") from exc
    except (pd.errors.ParserError, ValueError) as exc:
        raise InputError(f"{path}: not a valid CSV file ({_one_line(exc)})") from exc


def _read_jsonl(path: Path, text_columns: list[str]) -> pd.DataFrame:
    records = []
    with _open_text(path) as handle:
        for line_number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise InputError(
                    f"{path}: line {line_number} is not valid JSON ({exc.msg})"
                ) from exc
            if not isinstance(record, dict):
                raise InputError(
                    f"{path}: line {line_number} is not a JSON object but {type(record).__name__}"
                )
            records.append(record)
    if not records:
        raise InputError(f"{path}: the file has no data rows")
    return _with_text(pd.DataFrame.from_records(records), text_columns)


def _read_json(path: Path, text_columns: list[str]) -> pd.DataFrame:
    with _open_text(path) as handle:
        text = handle.read()
    if not text.strip():
        raise InputError(f"{path}: the file is empty")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(
            f"{path}: not valid JSON at line {exc.lineno} ({exc.msg}); "
            "for one object per line use the .jsonl extension"
        ) from exc
    if isinstance(data, list):
        for position, record in enumerate(data):
            if not isinstance(record, dict):
                raise InputError(
                    f"{path}: row {position + 1} is not a JSON object but {type(record).__name__}"
                )
        df = pd.DataFrame.from_records(data)
    elif isinstance(data, dict) and data and all(isinstance(v, list) for v in data.values()):
        lengths = {len(v) for v in data.values()}
        if len(lengths) != 1:
            raise InputError(f"{path}: the column lists have different lengths")
        df = pd.DataFrame(data)
    else:
        raise InputError(
            f"{path}: expected a JSON list of row objects or an object of column lists"
        )
    return _with_text(df, text_columns)


def _open_text(path: Path) -> TextIO:
    if path.suffix.lower() == ".gz":
        return gzip.open(path, "rt", encoding="utf-8")
    return path.open(encoding="utf-8")


def _read_parquet(path: Path, text_columns: list[str]) -> pd.DataFrame:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        schema = pq.read_schema(path)
        dictionary = [
            c
            for c in text_columns
            if c in schema.names
            and (
                pa.types.is_string(schema.field(c).type)
                or pa.types.is_large_string(schema.field(c).type)
            )
        ]
        table = pq.read_table(path, read_dictionary=dictionary or None)
    except (pa.ArrowException, OSError) as exc:
        raise InputError(f"{path}: not a valid Parquet file ({_one_line(exc)})") from exc
    df = table.to_pandas()
    return _with_text(df, [c for c in text_columns if c not in dictionary])


def _with_text(df: pd.DataFrame, text_columns: list[str]) -> pd.DataFrame:
    """Turn numbers in `text_columns` into their text; missing values stay missing."""
    for column in text_columns:
        if column not in df.columns:
            continue
        values = df[column]
        if (
            isinstance(values.dtype, pd.CategoricalDtype) or pd.api.types.is_string_dtype(values)
        ) and (
            values.dtype != object or values.map(lambda v: v is None or isinstance(v, str)).all()
        ):
            continue
        df[column] = values.map(_as_text, na_action="ignore").astype(object)
    return df


def _as_text(value: object) -> object:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, dict | list):
        return json.dumps(value)
    return str(value)
