"""Statistics for human evaluation of language models, on plain pandas tables.

Modules, each named for what it computes: `ratings` (Elo, Bradley-Terry, leaderboards),
`rates` (Good-Result-Ratio, label and tag rates with Wilson intervals), `agreement`
(Krippendorff's alpha, Fleiss' and Cohen's kappa), `judges` (judge-human agreement on
verdicts), `significance` (paired tests between two models), `correlation` (human scores
against automatic metrics), `slices` (any of these per metadata value, with parity gaps).
`python -m scoring --help` runs them on files.

The public functions and result classes of those modules are also reachable from here
(``scoring.leaderboard``, ``scoring.good_result_ratio``, ...), loaded on first use: `import
scoring` stays cheap (no numpy, pandas or scipy) because the web app imports it at start-up.
One exception: ``scoring.agreement`` is the module (Python binds a package's attribute to
its submodule once that is imported); the function is ``scoring.agreement.agreement``.

No Django import anywhere in this package.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from scoring.errors import ConvergenceError, InputError, RatingWarning, row_error

# Public name -> the module that defines it (imported lazily by `__getattr__`).
_LAZY = {
    "agreement": [
        "AgreementResult",
        "AlphaInterval",
        "alpha_interval",
        "cohen_kappa",
        "fleiss_kappa",
    ],
    "correlation": [
        "Coefficient",
        "CorrelationResult",
        "PairwiseAccuracy",
        "correlate",
        "pairwise_accuracy",
        "system_pairwise_accuracy",
    ],
    "io": ["read_table"],
    "judges": [
        "JudgeReport",
        "VoteAgreement",
        "committee_votes",
        "judge_report",
        "vote_agreement",
    ],
    "rates": [
        "clustered_interval",
        "good_result_ratio",
        "mean_rate",
        "rate_table",
        "tag_rates",
        "wilson_interval",
    ],
    "ratings": [
        "BattleMatrices",
        "EncodedBattles",
        "Identification",
        "Leaderboard",
        "PairCounts",
        "anchor_index",
        "battle_matrices",
        "bootstrap_ratings",
        "bradley_terry",
        "check_options",
        "encode_battles",
        "identification",
        "leaderboard",
        "online_elo",
        "pair_counts",
        "score_interval",
        "validate_battles",
    ],
    "significance": [
        "Comparison",
        "PairedBootstrapResult",
        "PromptsEstimate",
        "SignFlipResult",
        "compare_models",
        "good_rate_pairs",
        "paired_bootstrap",
        "prompts_needed",
        "sign_flip_test",
        "win_rate_pairs",
    ],
    "slices": [
        "SliceResult",
        "by_slice",
        "length_buckets",
        "parity_gaps",
    ],
    "tables": [
        "Interval",
        "jsonable",
        "missing_mask",
        "numeric_column",
        "require_columns",
        "require_present",
        "require_table",
        "to_number",
    ],
    "verdicts": [
        "is_tie",
        "parse_verdict",
        "score_first",
        "to_verdict",
        "to_verdicts",
    ],
}
_MODULE_OF = {name: module for module, names in _LAZY.items() for name in names}

# Every name above and the errors (tests/scoring/test_package.py checks that they agree).
__all__ = [
    "AgreementResult",
    "AlphaInterval",
    "BattleMatrices",
    "Coefficient",
    "Comparison",
    "ConvergenceError",
    "CorrelationResult",
    "EncodedBattles",
    "Identification",
    "InputError",
    "Interval",
    "JudgeReport",
    "Leaderboard",
    "PairCounts",
    "PairedBootstrapResult",
    "PairwiseAccuracy",
    "PromptsEstimate",
    "RatingWarning",
    "SignFlipResult",
    "SliceResult",
    "VoteAgreement",
    "alpha_interval",
    "anchor_index",
    "battle_matrices",
    "bootstrap_ratings",
    "bradley_terry",
    "by_slice",
    "check_options",
    "clustered_interval",
    "cohen_kappa",
    "committee_votes",
    "compare_models",
    "correlate",
    "encode_battles",
    "fleiss_kappa",
    "good_rate_pairs",
    "good_result_ratio",
    "identification",
    "is_tie",
    "jsonable",
    "judge_report",
    "leaderboard",
    "length_buckets",
    "mean_rate",
    "missing_mask",
    "numeric_column",
    "online_elo",
    "pair_counts",
    "paired_bootstrap",
    "pairwise_accuracy",
    "parity_gaps",
    "parse_verdict",
    "prompts_needed",
    "rate_table",
    "read_table",
    "require_columns",
    "require_present",
    "require_table",
    "row_error",
    "score_first",
    "score_interval",
    "sign_flip_test",
    "system_pairwise_accuracy",
    "tag_rates",
    "to_number",
    "to_verdict",
    "to_verdicts",
    "validate_battles",
    "vote_agreement",
    "wilson_interval",
    "win_rate_pairs",
]


def __getattr__(name: str) -> Any:
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module 'scoring' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"scoring.{module}"), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


if TYPE_CHECKING:  # the same names, for type checkers and editors
    from scoring.agreement import (
        AgreementResult,
        AlphaInterval,
        alpha_interval,
        cohen_kappa,
        fleiss_kappa,
    )
    from scoring.correlation import (
        Coefficient,
        CorrelationResult,
        PairwiseAccuracy,
        correlate,
        pairwise_accuracy,
        system_pairwise_accuracy,
    )
    from scoring.io import read_table
    from scoring.judges import (
        JudgeReport,
        VoteAgreement,
        committee_votes,
        judge_report,
        vote_agreement,
    )
    from scoring.rates import (
        clustered_interval,
        good_result_ratio,
        mean_rate,
        rate_table,
        tag_rates,
        wilson_interval,
    )
    from scoring.ratings import (
        BattleMatrices,
        EncodedBattles,
        Identification,
        Leaderboard,
        PairCounts,
        anchor_index,
        battle_matrices,
        bootstrap_ratings,
        bradley_terry,
        check_options,
        encode_battles,
        identification,
        leaderboard,
        online_elo,
        pair_counts,
        score_interval,
        validate_battles,
    )
    from scoring.significance import (
        Comparison,
        PairedBootstrapResult,
        PromptsEstimate,
        SignFlipResult,
        compare_models,
        good_rate_pairs,
        paired_bootstrap,
        prompts_needed,
        sign_flip_test,
        win_rate_pairs,
    )
    from scoring.slices import SliceResult, by_slice, length_buckets, parity_gaps
    from scoring.tables import (
        Interval,
        jsonable,
        missing_mask,
        numeric_column,
        require_columns,
        require_present,
        require_table,
        to_number,
    )
    from scoring.verdicts import is_tie, parse_verdict, score_first, to_verdict, to_verdicts
