"""Which of a study's judgments count, decided here and nowhere else.

Results — the leaderboard, agreement, comparisons, slices, correlations, progress, and the
arena, preferences, scores and model-card exports — count the verdicts and ratings of
**human graders** on the study's **regular tasks** (`COUNTED`). Gold tasks measure graders,
not models, and are left out. Model judges (imported AI verdicts) never enter a human
result: they are compared with the humans on their own (`MODEL_JUDGES`, read by
`annotation.results.judges`). The per-judgment exports (csv, jsonl, parquet, xlsx) are the
raw record and list every grader's judgments on regular tasks (`EVERY_GRADER`), each row
saying its grader's kind.

Every reader asks a `Selection` for its rows, as an ORM queryset (`judgments`), as a SQL
condition for the exports' raw cursor (`sql_condition`), or row by row (`includes`), so
the rule cannot drift between code paths.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import QuerySet

from annotation.models import Judgment, Study, Task, User


@dataclass(frozen=True)
class Selection:
    """A study's judgments on regular (non-gold) tasks by graders of the given kinds."""

    name: str
    kinds: frozenset[str]

    def judgments(self, study: Study | int) -> QuerySet[Judgment]:
        """The selected judgments of `study` (a Study or its pk), unordered."""
        return Judgment.objects.filter(
            task__study=study, task__is_gold=False, grader__kind__in=sorted(self.kinds)
        )

    def includes(self, grader_kind: str) -> bool:
        """Whether a judgment on a regular task by a grader of this kind is selected."""
        return grader_kind in self.kinds

    def sql_condition(self, *, judgment: str = "j", task: str = "t") -> tuple[str, list]:
        """The selection as a SQL condition on aliases of the judgment and task tables,
        and its parameters (``%s`` placeholders), for queries written by hand."""
        condition = f"{task}.is_gold = %s"
        params: list = [False]
        if self.kinds != ALL_KINDS:
            placeholders = ", ".join(["%s"] * len(self.kinds))
            condition += (
                f" AND {judgment}.grader_id IN "
                f"(SELECT id FROM {User._meta.db_table} WHERE kind IN ({placeholders}))"
            )
            params += sorted(self.kinds)
        return condition, params


ALL_KINDS = frozenset(User.Kind.values)
# What results count: human graders only.
COUNTED = Selection("human graders", frozenset({User.Kind.HUMAN}))
# Compared with the humans separately.
MODEL_JUDGES = Selection("model judges", frozenset({User.Kind.MODEL_JUDGE}))
# The raw record: every grader, each row labelled with its grader's kind.
EVERY_GRADER = Selection("every grader", ALL_KINDS)


def counted_judgments(study: Study | int) -> QuerySet[Judgment]:
    """The judgments that count for the study's results (`COUNTED`)."""
    return COUNTED.judgments(study)


def counted_pair_verdicts(study: Study | int) -> QuerySet[Judgment]:
    """Counted judgments that carry a pairwise verdict."""
    return counted_judgments(study).filter(task__kind=Task.Kind.PAIR).exclude(verdict="")
