"""Errors of every import: each problem names the file (or request), the line (or record)
and the field, as ``FILE:LINE: field 'NAME': what is wrong``."""

from __future__ import annotations

import os
from typing import NamedTuple

# An import stops reading after this many problems: enough to fix a file in one go,
# not so many that a wrong file buries the first mistake.
MAX_REPORTED_ERRORS = 20


class Problem(NamedTuple):
    line: int | None  # line of a file, or index of a record in a request
    field: str | None
    message: str


class ImportFileError(Exception):
    """An import that wrote nothing. `errors` holds one formatted line per problem;
    `details` the same problems as ``{"index", "field", "message"}`` for an API answer."""

    def __init__(self, source: str, problems: list[Problem]):
        self.source = source
        self.problems = list(problems)
        self.errors = [format_problem(source, p) for p in self.problems]
        more = (
            f"\n(stopped after {len(self.errors)} errors)"
            if len(self.errors) >= MAX_REPORTED_ERRORS
            else ""
        )
        super().__init__("\n".join(self.errors) + more)

    @property
    def details(self) -> list[dict]:
        return [{"index": p.line, "field": p.field, "message": p.message} for p in self.problems]


def format_problem(source: str, problem: Problem) -> str:
    where = source if problem.line is None else f"{source}:{problem.line}"
    what = f" field '{problem.field}':" if problem.field else ""
    return f"{where}:{what} {problem.message}"


class ErrorList:
    """Problems found while reading one source; `raise_if_any` ends the import.

    `source` is a path (only its file name is shown) or a name such as "request".
    Reaching MAX_REPORTED_ERRORS raises at once.
    """

    def __init__(self, source: str):
        self.source = os.path.basename(str(source)) or str(source)
        self.problems: list[Problem] = []

    def __len__(self) -> int:
        return len(self.problems)

    def __bool__(self) -> bool:
        return bool(self.problems)

    def add(self, line: int | None, field: str | None, message: str) -> None:
        self.problems.append(Problem(line, field, message))
        if len(self.problems) >= MAX_REPORTED_ERRORS:
            raise self.error()

    def error(self) -> ImportFileError:
        return ImportFileError(self.source, self.problems)

    def raise_if_any(self) -> None:
        if self.problems:
            raise self.error()
