"""scoring/__init__.py: the public API from one place, loaded lazily; API habits across
the package (one `rng` parameter, results as dataclasses or named pairs)."""

from __future__ import annotations

import importlib
import inspect
import subprocess
import sys
from pathlib import Path

import pytest

import scoring

ROOT = Path(__file__).resolve().parents[2]


def _public(module_name: str) -> dict[str, object]:
    module = importlib.import_module(f"scoring.{module_name}")
    return {
        name: value
        for name, value in vars(module).items()
        if not name.startswith("_")
        and (inspect.isfunction(value) or inspect.isclass(value))
        and value.__module__ == module.__name__
    }


def test_import_scoring_loads_no_numeric_library():
    # The web app imports scoring at start-up; numpy, pandas and scipy wait for first use.
    code = (
        "import sys, scoring; "
        "print(sorted(m for m in ('numpy', 'pandas', 'scipy') if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "[]"


def test_every_public_function_and_result_is_reexported():
    for module_name in scoring._LAZY:
        public = _public(module_name)
        if module_name == "agreement":
            # `scoring.agreement` is the module; its function stays scoring.agreement.agreement.
            public.pop("agreement")
        missing = sorted(set(public) - set(scoring.__all__))
        assert not missing, f"scoring.{module_name} defines {missing}, not in scoring.__all__"
        for name, value in public.items():
            assert getattr(scoring, name) is value


def test_all_lists_exactly_the_lazy_names_and_the_errors():
    errors = {"ConvergenceError", "InputError", "RatingWarning", "row_error"}
    assert sorted(scoring.__all__) == scoring.__all__
    assert set(scoring.__all__) == set(scoring._MODULE_OF) | errors
    assert set(scoring.__all__) <= set(dir(scoring))
    with pytest.raises(AttributeError, match="no attribute 'nonsense'"):
        scoring.nonsense  # noqa: B018
    from scoring import agreement

    assert inspect.ismodule(agreement) and callable(agreement.agreement)


def test_randomness_is_one_rng_parameter_and_results_are_not_bare_tuples_or_dicts():
    for module_name in scoring._LAZY:
        for name, value in _public(module_name).items():
            if not inspect.isfunction(value):
                continue
            signature = inspect.signature(value)
            assert "seed" not in signature.parameters, f"{module_name}.{name} takes a seed"
            if "rng" in signature.parameters:
                assert signature.parameters["rng"].kind is inspect.Parameter.KEYWORD_ONLY
            returned = str(signature.return_annotation)
            assert not returned.startswith(("tuple", "dict", "Tuple", "Dict")), (
                f"{module_name}.{name} returns {returned}"
            )


def test_intervals_are_named_pairs():
    interval = scoring.wilson_interval(3, 4)
    assert isinstance(interval, scoring.Interval)
    assert (interval.lower, interval.upper) == tuple(interval)
    lower, upper = scoring.clustered_interval([1.0, 2.0], [3.0, 3.0])
    assert 0 < lower < 0.5 < upper < 1
    assert isinstance(scoring.score_interval([4.0], [2.0], [0.0]), scoring.Interval)
