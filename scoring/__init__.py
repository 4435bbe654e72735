"""Statistics for human evaluation of language models, on plain pandas tables.

Modules, each named for what it computes: `ratings` (Elo, Bradley-Terry, leaderboards),
`rates` (Good-Result-Ratio, label and tag rates with Wilson intervals), `agreement`
(Krippendorff's alpha, Fleiss' and Cohen's kappa), `significance` (paired bootstrap between
two models), `correlation` (human scores against automatic metrics), `slices` (any of these
per metadata value, with parity gaps). `python -m scoring --help` runs them on files.

No Django import anywhere in this package; submodules are imported on demand.
"""

from scoring.errors import ConvergenceError, InputError, RatingWarning

__all__ = ["ConvergenceError", "InputError", "RatingWarning"]
