"""Agreement among graders per question (verdict, rating, each tag) and per grader, and
the AI judges against the human graders."""

from __future__ import annotations

from dataclasses import replace
from functools import cache, partial

import numpy as np
import pandas as pd

from annotation.counting import COUNTED, MODEL_JUDGES
from annotation.results.parallel import Part, Split
from annotation.results.payloads import AgreementPayload, JudgesPayload, QuestionAgreement
from annotation.results.snapshot import StudyData
from scoring import agreement as agreement_stats
from scoring import judges as judge_stats
from scoring.errors import InputError

# Bootstrap rounds for the agreement and correlation intervals on pages and in the API: enough
# for stable 95% percentile intervals, few enough that a 100,000-judgment study computes in
# seconds. The scoring CLI runs 1,000 by default on exported files.
RESULT_BOOTSTRAP = 300
# Hundreds of graders make tens of thousands of pairs: the payload keeps the best-supported.
MAX_COHEN_PAIRS = 300


def latest_ratings(ratings: pd.DataFrame) -> pd.DataFrame:
    """A grader may rate the same response in several pairs; their latest rating counts."""
    return ratings.sort_values("judgment_id").drop_duplicates(
        ["response_id", "grader"], keep="last"
    )


def rating_table(data: StudyData) -> pd.DataFrame:
    """Long format for agreement on ratings: item (response), grader, value (label)."""
    frame = latest_ratings(data.labels)
    return frame.rename(columns={"response_id": "item", "label": "value"})[
        ["item", "grader", "value"]
    ]


def tag_table(data: StudyData, tag: str, *, latest: pd.DataFrame | None = None) -> pd.DataFrame:
    """Long format for agreement on one tag: item (response), grader, value (1 if tagged).
    `latest`: ``latest_ratings(data.ratings)`` if the caller has it already."""
    frame = latest_ratings(data.ratings) if latest is None else latest
    return pd.DataFrame(
        {
            "item": frame["response_id"],
            "grader": frame["grader"],
            "value": pd.Series(_tagged(frame["tags"].tolist(), tag), index=frame.index),
        }
    )


def _tagged(tag_lists: list, tag: str) -> np.ndarray:
    """1 where the list holds `tag`, else 0; checked once per distinct list object (the
    snapshot shares one list per distinct set of tags)."""
    ids = np.fromiter(map(id, tag_lists), dtype=np.int64, count=len(tag_lists))
    codes, uniques = pd.factorize(ids)
    first = np.empty(len(uniques), dtype=np.intp)
    first[codes[::-1]] = np.arange(len(codes))[::-1]  # where each list first appears
    hits = np.array([int(tag in tag_lists[i]) for i in first], dtype=np.int64)
    return hits[codes]


def _question(
    name: str, table: pd.DataFrame, *, level: str, bootstrap: int, seed: int, value_order=None
) -> QuestionAgreement:
    base = {"question": name, "level": level}
    if table.empty or table["grader"].nunique() < 2:
        return {**base, "error": "needs judgments from at least two graders on the same items"}
    try:
        result = agreement_stats.agreement(
            table, level=level, bootstrap=bootstrap, rng=seed, value_order=value_order
        )
    except (InputError, ArithmeticError) as exc:
        return {**base, "error": str(exc)}
    kappas = result.cohen_kappas
    kept = kappas.nlargest(MAX_COHEN_PAIRS, "n") if len(kappas) > MAX_COHEN_PAIRS else kappas
    # Only the kept pairs are turned into JSON: at 200 graders there are ~20,000 of them.
    payload = {**base, **_without_kappas(result).to_dict()}
    payload["cohen_kappas"] = kept.to_dict(orient="records")
    payload["cohen_kappa_pairs"] = len(kappas)
    payload["cohen_kappa_median"] = float(kappas["kappa"].median()) if len(kappas) else None
    return payload


def _without_kappas(result):
    return replace(result, cohen_kappas=result.cohen_kappas.iloc[:0])


def agreement(
    data: StudyData, *, bootstrap: int = RESULT_BOOTSTRAP, seed: int = 0
) -> AgreementPayload:
    """Agreement per question (verdict, rating, each tag) and per grader."""
    return agreement_split(data, bootstrap=bootstrap, seed=seed).compute()


def agreement_split(data: StudyData, *, bootstrap: int = RESULT_BOOTSTRAP, seed: int = 0) -> Split:
    """`agreement` as independent parts, one per question (each with its own seed), which
    a refresh may run in other processes (`annotation.results.parallel`)."""

    @cache
    def latest() -> pd.DataFrame:  # shared by the tag questions run in one process
        return latest_ratings(data.ratings)

    def tag_question(tag: str) -> QuestionAgreement:
        table = tag_table(data, tag, latest=latest())
        return _question(f"tag: {tag}", table, level="nominal", bootstrap=bootstrap, seed=seed)

    # Weights: seconds of CPU at 100,000 judgments (bench/bench_dashboard.py).
    parts = [
        Part(
            "agreement: verdict",
            partial(
                _question, "verdict", data.verdicts, level="nominal", bootstrap=bootstrap, seed=seed
            ),
            0.45,
            early=True,
        ),
        Part(
            "agreement: rating",
            lambda: _question(
                "rating",
                rating_table(data),
                level="ordinal",
                bootstrap=bootstrap,
                seed=seed,
                value_order=list(data.rating_scale),
            ),
            1.0,
        ),
        *(Part(f"agreement: tag {tag}", partial(tag_question, tag), 0.35) for tag in data.tags),
    ]
    return Split(tuple(parts), partial(_with_graders, data))


def _with_graders(data: StudyData, questions: list[QuestionAgreement]) -> AgreementPayload:
    """The payload: the questions, and per grader their agreement with the majority on
    the verdict, their counts and their quality figures."""
    per_grader = {
        row["grader"]: {
            "grader": row["grader"],
            "agreement_with_majority": row.get("agreement_with_majority"),
        }
        for row in next(
            (q.get("per_grader") or [] for q in questions if q["question"] == "verdict"), []
        )
    }
    for username, kind, n in data.graders[["grader", "kind", "judgments"]].itertuples(index=False):
        row = per_grader.setdefault(username, {"grader": username})
        row.update({"kind": kind, "judgments": int(n)})
    for username, seen, accuracy, median, ties in data.quality.itertuples(index=False):
        row = per_grader.setdefault(username, {"grader": username})
        row.update(
            {
                "gold_seen": int(seen),
                "gold_accuracy": _number(accuracy),
                "median_seconds": _number(median),
                "tie_share": _number(ties),
            }
        )
    return {
        "questions": questions,
        "graders": sorted(per_grader.values(), key=lambda r: r["grader"]),
    }


def _number(value) -> float | None:
    return None if value is None or pd.isna(value) else float(value)


def judges(data: StudyData) -> JudgesPayload:
    """Each model judge's agreement with the human graders, with and without ties
    (MT-Bench's setups S1 and S2), the humans' agreement among themselves for reference,
    and a committee of all model judges voting by majority."""
    votes = data.votes
    humans = set(votes.loc[votes["kind"].isin(sorted(COUNTED.kinds)), "grader"].unique().tolist())
    model_judges = sorted(
        votes.loc[votes["kind"].isin(sorted(MODEL_JUDGES.kinds)), "grader"].unique().tolist()
    )
    rows = []

    def row(name, table, raters, kind):
        with_ties = judge_stats.vote_agreement(table, raters, humans, ties=True)
        without = judge_stats.vote_agreement(table, raters, humans, ties=False)
        return {
            "judge": name,
            "kind": kind,
            "agreement_with_ties": with_ties.agreement,
            "pairs_with_ties": with_ties.pairs,
            "agreement_without_ties": without.agreement,
            "pairs_without_ties": without.pairs,
            "items": with_ties.items,
        }

    if humans:
        rows.append(row("humans (with each other)", votes, humans, "human"))
    for judge in model_judges:
        rows.append(row(judge, votes, {judge}, "model_judge"))
    if len(model_judges) >= 2:
        committee = judge_stats.committee_votes(votes, model_judges, name="committee of judges")
        rows.append(
            row(
                "committee of judges",
                pd.concat([votes, committee], ignore_index=True),
                {"committee of judges"},
                "committee",
            )
        )
    return {"humans": len(humans), "model_judges": model_judges, "rows": rows}
