"""Checks shared by the scoring functions (columns present, table not empty, numbers
numeric), the `Interval` pair and the one JSON sanitiser of results (`jsonable`).

Every check raises `scoring.errors.InputError` with the first offending row (1-based).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable, Sequence
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from scoring.errors import InputError, row_error


class Interval(NamedTuple):
    """A confidence interval as a named pair, like scipy's ``ConfidenceInterval``: read
    ``.lower`` and ``.upper``, or unpack ``lower, upper = interval``. Bounds are floats, or
    arrays when the function was given arrays."""

    lower: Any
    upper: Any


def require_table(df: object, what: str = "table") -> pd.DataFrame:
    """Return `df` if it is a non-empty DataFrame, else raise `InputError`."""
    if not isinstance(df, pd.DataFrame):
        raise InputError(f"the {what} must be a pandas DataFrame, not {type(df).__name__}")
    if len(df) == 0:
        raise InputError(f"the {what} is empty (no data rows)")
    return df


def require_columns(df: pd.DataFrame, columns: Iterable[str], what: str = "table") -> None:
    """Raise `InputError` naming the first of `columns` that `df` lacks."""
    for column in columns:
        if column not in df.columns:
            found = ", ".join(map(str, df.columns)) or "none"
            raise InputError(f"the {what} has no column '{column}' (columns found: {found})")


def require_present(df: pd.DataFrame, columns: Sequence[str]) -> None:
    """Raise `InputError` at the first row where one of `columns` is missing or blank."""
    for column in columns:
        missing = missing_mask(df[column])
        if missing.any():
            raise row_error(int(np.argmax(missing)), f"{column} is empty")


def missing_mask(values: pd.Series) -> np.ndarray:
    """True where a cell is missing (None, NaN, NA) or a blank string."""
    missing = values.isna().to_numpy(dtype=bool).copy()
    if isinstance(values.dtype, pd.CategoricalDtype):
        blank = np.array([isinstance(c, str) and not c.strip() for c in values.cat.categories])
        if blank.any():
            codes = values.cat.codes.to_numpy()
            missing |= (codes >= 0) & blank[np.maximum(codes, 0)]
    elif values.dtype == object:
        missing |= values.map(lambda v: isinstance(v, str) and not v.strip()).to_numpy(bool)
    elif pd.api.types.is_string_dtype(values.dtype):
        missing |= values.str.strip().eq("").fillna(False).to_numpy(dtype=bool)
    return missing


def numeric_column(df: pd.DataFrame, column: str, *, allow_missing: bool = True) -> np.ndarray:
    """Column `column` as float64; a value that is not a number raises `InputError`.

    Missing cells (None, NaN, empty string) become NaN when `allow_missing`, else raise.
    Booleans are refused: a True/False in a score column is a mistake, not 1/0.
    """
    values = df[column]
    if values.dtype == bool:
        raise InputError(f"column '{column}' holds true/false values, not numbers")
    if pd.api.types.is_numeric_dtype(values.dtype):
        out = values.to_numpy(dtype=float, na_value=np.nan)
    else:
        raw = values.to_numpy(dtype=object)
        out = np.empty(len(raw), dtype=float)
        for position, value in enumerate(raw):
            out[position] = to_number(value, column, position)
    if not allow_missing and np.isnan(out).any():
        raise row_error(int(np.argmax(np.isnan(out))), f"{column} is empty")
    if np.isinf(out).any():
        position = int(np.argmax(np.isinf(out)))
        raise row_error(position, f"{column} is not a finite number: {out[position]!r}")
    return out


def to_number(value: object, column: str, position: int) -> float:
    """`value` of `column` in the row at 0-based `position` as a float (NaN if missing), or
    `InputError` naming the row when it is not a number (text is parsed; True/False is not)."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return np.nan
    if isinstance(value, bool | np.bool_):
        raise row_error(position, f"{column} is not a number: {value!r}")
    if isinstance(value, int | float | np.integer | np.floating):
        return float(value)
    if isinstance(value, str):
        text = value.strip()
        if not text:
            return np.nan
        try:
            return float(text)
        except ValueError:
            pass
    raise row_error(position, f"{column} is not a number: {value!r}")


def jsonable(value: object) -> Any:
    """Plain JSON data from results: DataFrames become lists of row objects, dataclasses and
    Series become objects, numpy scalars become numbers, NaN and infinities become None."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, pd.DataFrame):
        return [
            {str(k): jsonable(v) for k, v in row.items()} for row in value.to_dict(orient="records")
        ]
    if isinstance(value, pd.Series):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return [jsonable(v) for v in value.tolist()]
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if isinstance(value, int | np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        number = float(value)
        return number if math.isfinite(number) else None
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    return value if isinstance(value, str) else str(value)
