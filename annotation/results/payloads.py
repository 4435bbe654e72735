"""The shapes of the results, as JSON: one definition shared by the result functions, the
REST API's schema, the management commands, the dashboard template and the model card.

Every payload is a plain dict (TypedDict) so it is stored, cached and served as JSON
unchanged; numbers that cannot be computed are None (never NaN).
"""

from typing import NotRequired, TypedDict


class JsonRows(list):
    """Rows already JSON-ready (str, int, float and None values; no NaN or infinity), which
    `store.clean` passes through as they are: 40,000 scatter points need no second walk."""


# --- leaderboard ----------------------------------------------------------------------------


class TagRate(TypedDict):
    rate: float | None
    ci_lower: float | None
    ci_upper: float | None
    n: int


class LeaderboardRow(TypedDict):
    """One model. Rating keys are absent without pairwise verdicts, GRR keys without
    ratings, `tags` without tags."""

    model: str
    rating: NotRequired[float | None]
    ci_lower: NotRequired[float | None]
    ci_upper: NotRequired[float | None]
    rank: NotRequired[int]
    rank_lower: NotRequired[int]
    rank_upper: NotRequired[int]
    battles: NotRequired[int]
    wins: NotRequired[int]
    ties: NotRequired[int]
    losses: NotRequired[int]
    win_rate: NotRequired[float | None]
    grr: NotRequired[float | None]
    grr_ci_lower: NotRequired[float | None]
    grr_ci_upper: NotRequired[float | None]
    n_ratings: NotRequired[int]
    tags: NotRequired[dict[str, TagRate]]


class WinMatrix(TypedDict):
    """Row model against column model, models in rating order."""

    models: list[str]
    observed: list[list[float | None]]
    counts: list[list[int]]
    predicted: list[list[float | None]]


class LeaderboardPayload(TypedDict):
    rows: list[LeaderboardRow]
    n_battles: int
    n_ratings: int
    bootstrap: int
    seed: int
    confidence: float
    good_labels: list[str]
    tags: list[str]
    matrix: WinMatrix | None
    notes: list[str]


# --- agreement and judges ----------------------------------------------------------------


class QuestionAgreement(TypedDict):
    """Agreement on one question (verdict, rating, or a tag). With too little data only
    `question`, `level` and `error` are present; otherwise the fields of
    `scoring.agreement.AgreementResult` (alpha with its interval, Fleiss' kappa, percent
    agreement, counts, per-grader rows, notes) and the Cohen's kappa summary."""

    question: str
    level: str
    error: NotRequired[str]
    krippendorff_alpha: NotRequired[float | None]
    alpha_ci_lower: NotRequired[float | None]
    alpha_ci_upper: NotRequired[float | None]
    n_items: NotRequired[int]
    n_pairable_items: NotRequired[int]
    n_graders: NotRequired[int]
    n_ratings: NotRequired[int]
    fleiss_kappa: NotRequired[float | None]
    fleiss_items: NotRequired[int]
    percent_agreement: NotRequired[float | None]
    cohen_kappas: NotRequired[list[dict]]
    cohen_kappa_pairs: NotRequired[int]
    cohen_kappa_median: NotRequired[float | None]
    per_grader: NotRequired[list[dict]]
    bootstrap: NotRequired[int]
    confidence: NotRequired[float]
    notes: NotRequired[list[str]]


class GraderRow(TypedDict):
    grader: str
    kind: NotRequired[str]
    judgments: NotRequired[int]
    agreement_with_majority: NotRequired[float | None]
    gold_seen: NotRequired[int]
    gold_accuracy: NotRequired[float | None]
    median_seconds: NotRequired[float | None]
    tie_share: NotRequired[float | None]


class AgreementPayload(TypedDict):
    questions: list[QuestionAgreement]
    graders: list[GraderRow]


class JudgeRow(TypedDict):
    judge: str
    kind: str  # human, model_judge or committee
    agreement_with_ties: float | None
    pairs_with_ties: int
    agreement_without_ties: float | None
    pairs_without_ties: int
    items: int


class JudgesPayload(TypedDict):
    humans: int
    model_judges: list[str]
    rows: list[JudgeRow]


# --- comparison of two models -------------------------------------------------------------


class JudgmentsNeeded(TypedDict):
    n_current: int
    n_needed: int | None
    n_more: int | None
    effect: float | None
    sd: float | None
    alpha: float
    power: float
    method: str


class ComparePayload(TypedDict):
    """A paired bootstrap of model_a - model_b on shared prompts; on too little data only
    the names, `measure` and `error`."""

    model_a: str
    model_b: str
    measure: str
    error: NotRequired[str]
    alpha: NotRequired[float]
    significant: NotRequired[bool]
    difference: NotRequired[float | None]
    ci_lower: NotRequired[float | None]
    ci_upper: NotRequired[float | None]
    p_value: NotRequired[float | None]
    n: NotRequired[int]
    mean_a: NotRequired[float | None]
    mean_b: NotRequired[float | None]
    resamples: NotRequired[int]
    confidence: NotRequired[float]
    needed: NotRequired[JudgmentsNeeded]


# --- slices --------------------------------------------------------------------------------


class SliceResult(TypedDict):
    table: list[dict]  # model, slice value, the measure, n (scoring.slices.by_slice)
    gaps: list[dict]  # per model: gap, max/min slice and value, slices, flagged


class SliceColumn(TypedDict):
    column: str
    win_rate: NotRequired[SliceResult]
    grr: NotRequired[SliceResult]


class SlicesPayload(TypedDict):
    threshold: float
    slices: list[SliceColumn]


# --- correlations with automatic metrics -------------------------------------------------------


class MetricCorrelation(TypedDict):
    """`segment` and `system` map a human column (good_rate, win_rate) to the result of
    `scoring.correlation.correlate` or {"error": ...}; `points` are the scores table's rows
    (model, good_rate, win_rate and the metric) for the scatter plot."""

    metric: str
    segment: dict[str, dict]
    system: dict[str, dict]
    pairwise_accuracy: NotRequired[dict]
    points: list[dict]


class CorrelationsPayload(TypedDict):
    metrics: list[MetricCorrelation]


# --- progress -----------------------------------------------------------------------------


class GraderProgress(TypedDict):
    grader: str
    kind: str
    judgments: int
    active: int


class ModelProgress(TypedDict):
    model: str
    battles: int
    ratings: int


class SliceProgress(TypedDict):
    column: str
    counts: dict[str, int]


class ProgressPayload(TypedDict):
    tasks: int
    overlap: int
    slots: int
    judgments: int
    slots_taken: int
    percent: float
    graders: list[GraderProgress]
    models: list[ModelProgress]
    slices: list[SliceProgress]


# --- ties, style, position bias, consistency, tags (issue 13) ---------------------------------


class DavidsonPayload(TypedDict):
    """Davidson (1970) ratings: `rows` have the plain leaderboard's columns
    (`scoring.davidson.davidson_leaderboard`); nu is the tie parameter (two equal models tie
    with probability nu / (2 + nu)) with its bootstrap interval; None without verdicts."""

    rows: list[dict]
    n_battles: int
    n_ties: int
    tie_parameter: float | None
    tie_ci_lower: float | None
    tie_ci_upper: float | None
    tie_probability_equal: float | None
    bootstrap: int
    confidence: float
    notes: list[str]


class StylePayload(TypedDict):
    """Style control (`scoring.style.style_control`): controlled ratings (`rows`: model,
    rating, ci_lower, ci_upper, se, uncontrolled_rating, battles, ...) and one coefficient
    per style feature (feature, coefficient, se, ci_lower, ci_upper, z, p_value,
    rating_points, scale); empty below `min_battles` verdicts (a note says so)."""

    rows: list[dict]
    coefficients: list[dict]
    n_battles: int
    min_battles: int
    features: list[str]
    dropped_features: list[str]
    confidence: float
    interval: str
    notes: list[str]


class SwapPayload(TypedDict):
    repeats: int
    graders: list[dict]
    pooled: list[dict]
    note: str


class PositionPayload(TypedDict):
    """Left-side share of decisive votes per grader and model judge
    (`scoring.position.position_bias`: grader, kind, judgments, decisive, left, left_share,
    ci_lower, ci_upper, p_value, p_holm, flagged, and `enough`: at least `min_decisive`
    decisive votes), pooled per kind, and the swap consistency of re-served tasks."""

    graders: list[dict]
    pooled: list[dict]
    without_side: int
    min_decisive: int
    confidence: float
    alpha: float
    swap: SwapPayload
    notes: list[str]


class ConsistencyTotals(TypedDict):
    rated: int
    contradictions: int
    tie_unequal: int
    prompts: int
    cyclic: int


class ConsistencyFlagged(TypedDict):
    contradiction: list[int]
    tie_unequal: list[int]
    cycle: list[int]


class ConsistencyPayload(TypedDict):
    """Per human grader (`scoring.consistency.rating_consistency` rows, with `enough_rated`
    and `enough_prompts`), totals, a few example cycles, and the judgment ids flagged
    (contradiction, tie with unequal ratings, in a cycle) for the judgment browser."""

    graders: list[dict]
    totals: ConsistencyTotals
    cycles: list[dict]
    flagged: ConsistencyFlagged
    min_rated: int
    min_prompts: int
    confidence: float
    notes: list[str]


class TagSlice(TypedDict):
    column: str
    rows: list[dict]
    notes: list[str]


class TagEffectsPayload(TypedDict):
    """Log-odds of losing per tag (`scoring.tag_effects.tag_effects` rows: tag, battles,
    on_loser, on_winner, coefficient, odds_ratio, ci_lower, ci_upper, or_lower, or_upper,
    p_value, separated, `enough`; per slice also `slice`), for the study and per metadata
    column."""

    study: list[dict]
    slices: list[TagSlice]
    min_battles: int
    confidence: float
    interval: str
    notes: list[str]


# --- what the dashboard reads ---------------------------------------------------------------


class DashboardPayload(TypedDict):
    """The dashboard's results, computed together from one snapshot; `correlations` without
    the scatter points (the charts read those)."""

    leaderboard: LeaderboardPayload
    progress: ProgressPayload
    agreement: AgreementPayload
    judges: JudgesPayload
    slices: SlicesPayload
    correlations: CorrelationsPayload
    davidson: NotRequired[DavidsonPayload]
    # Stored by refreshes since grader checks joined them (older rows lack it).
    grader_checks: NotRequired[dict]
