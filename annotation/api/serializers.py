"""What the API reads and writes: output shapes, request bodies and query parameters.

Query parameters go through serializers too, so a bad value is a 400 naming the
parameter (never a 500 from deep inside a query).
"""

from __future__ import annotations

from django.db.models import Count
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from annotation import exports
from annotation.metric_runs import check_metric_name
from annotation.models import (
    DEFAULT_RATING_SCALE,
    Judgment,
    MetricScore,
    Prompt,
    Response,
    Study,
    Task,
)
from scoring import slices
from scoring.metrics import MetricError
from scoring.verdicts import ARENA_WINNER

MAX_BOOTSTRAP = 10_000
MAX_SEED = 2**32 - 1

# --- studies ---------------------------------------------------------------------------


class StudySummarySerializer(serializers.ModelSerializer):
    class Meta:
        model = Study
        fields = ["slug", "name", "protocol", "status", "overlap", "created_at"]


class StudyCountsSerializer(serializers.Serializer):
    members = serializers.IntegerField()
    models = serializers.IntegerField()
    prompts = serializers.IntegerField()
    responses = serializers.IntegerField()
    tasks = serializers.IntegerField(
        help_text="tasks in the grading queue (gold tasks, and pairs only imported judgments "
        "compared, not counted)"
    )
    gold_tasks = serializers.IntegerField()
    judgments = serializers.IntegerField(help_text="judgments of regular tasks")


def study_counts(study: Study) -> dict:
    tasks = dict(
        Task.objects.filter(study=study, in_queue=True)
        .values_list("is_gold")
        .annotate(n=Count("pk"))
        .values_list("is_gold", "n")
    )
    return {
        "members": study.members.count(),
        "models": study.models.count(),
        "prompts": study.prompts.count(),
        "responses": Response.objects.filter(prompt__study=study).count(),
        "tasks": tasks.get(False, 0),
        "gold_tasks": tasks.get(True, 0),
        "judgments": Judgment.objects.filter(task__study=study, task__is_gold=False).count(),
    }


class StudySerializer(serializers.ModelSerializer):
    """A study's set-up and how much it holds. No model names: graders read this too."""

    counts = serializers.SerializerMethodField()

    class Meta:
        model = Study
        fields = [
            "slug",
            "name",
            "instructions",
            "protocol",
            "rating_scale",
            "good_labels",
            "tags",
            "overlap",
            "require_ratings",
            "blind",
            "reveal_after_vote",
            "gold_rate",
            "status",
            "created_at",
            "counts",
        ]

    @extend_schema_field(StudyCountsSerializer)
    def get_counts(self, study: Study) -> dict:
        return study_counts(study)


class LabelListField(serializers.ListField):
    child = serializers.CharField(max_length=64)

    def to_internal_value(self, data):
        labels = super().to_internal_value(data)
        if len(set(labels)) != len(labels):
            raise serializers.ValidationError("lists a label twice")
        return labels


class StudyCreateSerializer(serializers.Serializer):
    """A new study; unset fields take the same defaults as `manage.py import_study`."""

    slug = serializers.SlugField(max_length=80)
    name = serializers.CharField(max_length=200, required=False)
    instructions = serializers.CharField(required=False, allow_blank=True)
    protocol = serializers.ChoiceField(choices=Study.Protocol.choices, required=False)
    rating_scale = LabelListField(
        min_length=2, required=False, help_text="ordered labels, worst first"
    )
    good_labels = LabelListField(min_length=1, required=False)
    tags = LabelListField(required=False)
    overlap = serializers.IntegerField(min_value=1, max_value=1000, required=False)
    require_ratings = serializers.BooleanField(required=False)
    blind = serializers.BooleanField(required=False)
    reveal_after_vote = serializers.BooleanField(required=False)
    gold_rate = serializers.FloatField(min_value=0, max_value=1, required=False)
    status = serializers.ChoiceField(choices=Study.Status.choices, required=False)

    def validate(self, data: dict) -> dict:
        scale = data.get("rating_scale", DEFAULT_RATING_SCALE)
        unknown = [label for label in data.get("good_labels", []) if label not in scale]
        if unknown:
            raise serializers.ValidationError(
                {"good_labels": [f"{unknown} are not on the rating scale {scale}"]}
            )
        return data


# --- prompts and responses ---------------------------------------------------------------


class ResponseRefSerializer(serializers.Serializer):
    id = serializers.IntegerField(source="pk")
    model = serializers.CharField(source="model.name")


class PromptSerializer(serializers.ModelSerializer):
    id = serializers.CharField(source="external_id", help_text="the prompt's id in the study")
    responses = ResponseRefSerializer(many=True)

    class Meta:
        model = Prompt
        fields = ["id", "text", "messages", "reference", "metadata", "responses"]


# The import's rules for a record, as JSON Schema (annotation.ingest checks them; text
# must hold more than whitespace). What a schema cannot say is in the endpoint's text.
TEXT = {"type": "string", "pattern": r"\S"}
METADATA = {"type": "object", "nullable": True, "additionalProperties": {}}


@extend_schema_field(
    {"oneOf": [{**TEXT, "maxLength": 200}, {"type": "integer", "format": "int64"}]}
)
class RecordIdField(serializers.JSONField):
    pass


@extend_schema_field(
    {
        "oneOf": [
            TEXT,
            {
                "type": "array",
                "minItems": 1,
                "items": {
                    "type": "object",
                    "properties": {"role": TEXT, "content": TEXT},
                    "required": ["role", "content"],
                },
            },
        ],
        "description": 'text, or a conversation: a list of {"role", "content"} turns',
    }
)
class RecordPromptField(serializers.JSONField):
    pass


@extend_schema_field(
    {
        "type": "object",
        "minProperties": 1,
        "additionalProperties": {
            "oneOf": [
                TEXT,
                {
                    "type": "object",
                    "properties": {"text": TEXT, "metadata": METADATA},
                    "required": ["text"],
                },
            ]
        },
        "description": "model name (at most 200 characters) -> output text, or "
        '{"text": ..., "metadata": {...}}',
    }
)
class RecordOutputsField(serializers.JSONField):
    pass


@extend_schema_field(METADATA)
class RecordMetadataField(serializers.JSONField):
    pass


@extend_schema_field({"type": "string", "nullable": True})
class RecordReferenceField(serializers.JSONField):
    pass


class StudyRecordSerializer(serializers.Serializer):
    """One study-file record (a JSONL line of the import format). Documents the request
    body only: the records are checked by annotation.ingest, as the import command does.
    Beyond this schema, the import refuses a prompt id given twice in one request or
    stored already with other content, and a model named twice after trimming spaces."""

    id = RecordIdField()
    prompt = RecordPromptField()
    reference = RecordReferenceField(required=False)
    metadata = RecordMetadataField(required=False)
    outputs = RecordOutputsField()


class ImportSummarySerializer(serializers.Serializer):
    prompts_in_request = serializers.IntegerField(source="prompts_in_file")
    prompts_created = serializers.IntegerField()
    models_created = serializers.IntegerField()
    responses_created = serializers.IntegerField()
    tasks_created = serializers.IntegerField()


class ResponseSerializer(serializers.ModelSerializer):
    prompt_id = serializers.CharField(source="prompt.external_id")
    model = serializers.CharField(source="model.name")

    class Meta:
        model = Response
        fields = ["id", "prompt_id", "model", "text", "metadata"]


class ModelFilter(serializers.Serializer):
    model = serializers.CharField(max_length=200, required=False)


# --- judgments ---------------------------------------------------------------------------


class RatingSerializer(serializers.Serializer):
    response_id = serializers.IntegerField()
    model = serializers.CharField()
    label = serializers.CharField(allow_blank=True)
    tags = serializers.ListField(child=serializers.CharField())


class JudgmentSerializer(serializers.ModelSerializer):
    """A verdict in terms of models: `verdict` names the task's responses ("a" is
    model_a's), `winner` is the arena vocabulary, `winner_model` the model preferred."""

    prompt_id = serializers.CharField(source="task.prompt.external_id")
    kind = serializers.CharField(source="task.kind")
    grader = serializers.CharField(source="grader.username")
    model_a = serializers.CharField(source="task.response_a.model.name")
    model_b = serializers.SerializerMethodField()
    winner = serializers.SerializerMethodField()
    winner_model = serializers.SerializerMethodField()
    ratings = serializers.SerializerMethodField()

    class Meta:
        model = Judgment
        fields = [
            "id",
            "task_id",
            "prompt_id",
            "kind",
            "grader",
            "model_a",
            "model_b",
            "verdict",
            "winner",
            "winner_model",
            "ratings",
            "comment",
            "seconds",
            "source",
            "created_at",
        ]

    def get_model_b(self, judgment: Judgment) -> str | None:
        response_b = judgment.task.response_b
        return response_b.model.name if response_b else None

    def get_winner(self, judgment: Judgment) -> str:
        return ARENA_WINNER.get(judgment.verdict, "")

    def get_winner_model(self, judgment: Judgment) -> str | None:
        task = judgment.task
        if judgment.verdict == Judgment.Verdict.A:
            return task.response_a.model.name
        if judgment.verdict == Judgment.Verdict.B:
            return task.response_b.model.name
        return None

    @extend_schema_field(RatingSerializer(many=True))
    def get_ratings(self, judgment: Judgment) -> list[dict]:
        given = {rating.response_id: rating for rating in judgment.ratings.all()}
        out = []
        for response in judgment.task.responses:
            rating = given.get(response.pk)
            out.append(
                {
                    "response_id": response.pk,
                    "model": response.model.name,
                    "label": rating.label if rating else "",
                    "tags": list(rating.tags) if rating else [],
                }
            )
        return out


class JudgmentFilter(serializers.Serializer):
    grader = serializers.CharField(max_length=150, required=False, help_text="username")
    model = serializers.CharField(
        max_length=200, required=False, help_text="judgments involving this model on either side"
    )
    since = serializers.DateTimeField(required=False, help_text="created at or after (ISO 8601)")
    until = serializers.DateTimeField(required=False, help_text="created before (ISO 8601)")


# --- results -----------------------------------------------------------------------------


class BootstrapQuery(serializers.Serializer):
    bootstrap = serializers.IntegerField(min_value=0, max_value=MAX_BOOTSTRAP, required=False)
    seed = serializers.IntegerField(min_value=0, max_value=MAX_SEED, required=False)


class ComputingSerializer(serializers.Serializer):
    """A result that the background worker is still computing."""

    status = serializers.CharField(help_text='always "computing"')
    detail = serializers.CharField()


class SlicesQuery(serializers.Serializer):
    threshold = serializers.FloatField(
        min_value=0,
        max_value=1,
        required=False,
        help_text=f"parity gap flagged above this (default {slices.DEFAULT_THRESHOLD})",
    )


class CompareQuery(serializers.Serializer):
    """Two models of the study (checked by annotation.results.check_compare) and what to
    compare."""

    model_a = serializers.CharField(max_length=200)
    model_b = serializers.CharField(max_length=200)
    measure = serializers.ChoiceField(choices=["good_rate", "win_rate"], required=False)
    seed = serializers.IntegerField(min_value=0, max_value=MAX_SEED, required=False)


# --- metric scores -----------------------------------------------------------------------


class MetricScoreSerializer(serializers.ModelSerializer):
    prompt_id = serializers.CharField(source="response.prompt.external_id")
    model = serializers.CharField(source="response.model.name")

    class Meta:
        model = MetricScore
        fields = ["prompt_id", "model", "response_id", "metric", "value", "source", "computed_at"]


class FiniteNumberField(serializers.FloatField):
    """A JSON number (not a string, not true/false) that is finite."""

    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, int | float):
            self.fail("invalid")
        return super().to_internal_value(data)


class MetricScoreInputSerializer(serializers.Serializer):
    prompt_id = serializers.CharField(max_length=200)
    model = serializers.CharField(max_length=200)
    metric = serializers.CharField(max_length=100)
    value = FiniteNumberField()
    source = serializers.CharField(max_length=500, required=False, allow_blank=True)

    def validate_metric(self, metric: str) -> str:
        try:
            check_metric_name(metric)
        except MetricError as exc:
            raise serializers.ValidationError(str(exc)) from None
        return metric


class MetricUpsertSummarySerializer(serializers.Serializer):
    created = serializers.IntegerField()
    updated = serializers.IntegerField()


class MetricFilter(ModelFilter):
    metric = serializers.CharField(max_length=100, required=False)


# --- exports -----------------------------------------------------------------------------


class ExportQuery(serializers.Serializer):
    unanimous = serializers.BooleanField(
        required=False, help_text="preferences: only tasks whose every counted vote agrees"
    )
    min_agreement = serializers.FloatField(
        min_value=0,
        max_value=1,
        required=False,
        help_text="preferences: drop tasks whose winner has a smaller share of the votes",
    )
    drop_ties = serializers.BooleanField(
        required=False, help_text="preferences: count only decisive votes"
    )
    slice_by = serializers.CharField(
        max_length=200, required=False, help_text="xlsx: one sheet per value of this metadata key"
    )

    def filters(self) -> exports.PreferenceFilters:
        data = self.validated_data
        return exports.PreferenceFilters(
            unanimous=data.get("unanimous", False),
            min_agreement=data.get("min_agreement", 0.0),
            drop_ties=data.get("drop_ties", False),
        )
