"""Loaded into the schemathesis process the suite starts (SCHEMATHESIS_HOOKS): a guard
around a crash of the tools, not of this app.

On Python 3.11, hypothesis describes a lambda in a strategy's repr by parsing the source
file it comes from with `ast.parse`; deep inside the recursive JSON strategies that
schemathesis builds, CPython 3.11 sometimes raises "SystemError: AST constructor recursion
depth mismatch" there (a CPython bug, gh-106905), which ends the whole run with no finding
about the API. The description is only text for reports, so when that happens the lambda
is described as hypothesis describes any lambda it cannot parse: `lambda ...: <unknown>`.
Every check still runs on every response.
"""

from __future__ import annotations

import functools

from hypothesis.internal import lambda_sources

_describe = lambda_sources._lambda_description


@functools.wraps(_describe)
def _lambda_description(f):
    try:
        return _describe(f)
    except SystemError as error:
        if "recursion depth mismatch" not in str(error):
            raise
        return "lambda ...: <unknown>"


lambda_sources._lambda_description = _lambda_description
