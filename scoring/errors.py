"""Errors and warnings raised by scoring/.

Input problems are `InputError` (a `ValueError`) with a one-line message that names the bad
value and, where there is one, its row: the 1-based position of the data row in the table
(the CSV header and blank JSONL lines are not counted). The CLI prints the message and exits
with status 2; the web app shows it as it is.
"""

from __future__ import annotations


class InputError(ValueError):
    """A table handed to scoring/ is unusable: missing column, unknown value, empty, ..."""


class ConvergenceError(RuntimeError):
    """An iterative fit did not converge; raised instead of returning NaN."""


class RatingWarning(UserWarning):
    """The data leave some ratings unidentified (e.g. a model that never lost)."""


def row_error(position: int, message: str) -> InputError:
    """An `InputError` for the data row at 0-based `position`, reported 1-based."""
    return InputError(f"row {int(position) + 1}: {message}")
