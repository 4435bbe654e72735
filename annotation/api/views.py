"""Thin viewsets: each names the role it needs, reads its parameters through a serializer,
calls a domain function, and returns what it gives back."""

from __future__ import annotations

import tempfile

from django.db.models import Prefetch, Q
from django.http import FileResponse, JsonResponse, StreamingHttpResponse
from django.utils.http import content_disposition_header
from drf_spectacular.plumbing import resolve_type_hint
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from drf_spectacular.views import SpectacularSwaggerSplitView
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.response import Response as APIResponse
from rest_framework.settings import api_settings

from annotation import exports, results, schedule
from annotation.access import studies_for
from annotation.api import schema
from annotation.api import serializers as s
from annotation.api.idempotency import HEADER, KEY_PATTERN, MAX_KEY_LENGTH, idempotent
from annotation.api.parsers import JSONBodyParser
from annotation.api.permissions import HasStudyRole
from annotation.ingest import ImportFileError
from annotation.ingest.metric_scores import MetricScoreError, upsert_metric_scores
from annotation.ingest.study_files import import_records
from annotation.middleware import CONTENT_SECURITY_POLICY
from annotation.models import Judgment, MetricScore, Prompt, Response, Study
from annotation.results import background, payloads
from annotation.results.position import SwapConsistencyPayload
from annotation.studies import SlugTaken, StudyError, create_study

SLUG_REGEX = "[-a-zA-Z0-9_]+"
SLUG = OpenApiParameter(
    "slug",
    {"type": "string", "pattern": f"^{SLUG_REGEX}$"},
    OpenApiParameter.PATH,
    description="the study's slug",
)
IDEMPOTENCY_KEY = OpenApiParameter(
    HEADER,
    {"type": "string", "pattern": KEY_PATTERN, "minLength": 1, "maxLength": MAX_KEY_LENGTH},
    OpenApiParameter.HEADER,
    description="1 to 200 visible ASCII characters (a UUID, say); a retry with the same key "
    "and body replays the first response and writes nothing",
)
BULK_ERRORS = OpenApiResponse(
    schema.BULK_400,
    description="Nothing was written: each error names its position (`index`) and field; "
    "or the body or a header was refused as a whole.",
)


def query(serializer_class, request, **kwargs) -> dict:
    """The request's query parameters, checked (a bad value is a 400 naming it)."""
    serializer = serializer_class(data=request.query_params, **kwargs)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


def bulk_errors(details: list[dict]) -> APIResponse:
    return APIResponse({"errors": details}, status=status.HTTP_400_BAD_REQUEST)


class StudyScoped(viewsets.GenericViewSet):
    """A viewset under /studies/{slug}/; HasStudyRole loads `self.study` for it."""

    permission_classes = [HasStudyRole]
    parser_classes = [JSONBodyParser]
    required_role = "researcher"
    study: Study

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation: no study
            return self.serializer_class.Meta.model.objects.none()
        return self.study_queryset()


# --- studies -----------------------------------------------------------------------------


class StudyViewSet(mixins.ListModelMixin, viewsets.GenericViewSet):
    """Studies the user belongs to (admins: every study). Researchers and admins create them."""

    permission_classes = [HasStudyRole]
    required_role = "grader"
    write_role = "researcher"
    lookup_field = "slug"
    lookup_value_regex = SLUG_REGEX

    def get_queryset(self):
        return studies_for(self.request.user).order_by("slug")

    def get_serializer_class(self):
        return {"list": s.StudySummarySerializer, "create": s.StudyCreateSerializer}.get(
            self.action, s.StudySerializer
        )

    def retrieve(self, request, slug):
        return APIResponse(s.StudySerializer(self.study).data)

    @extend_schema(
        parameters=[IDEMPOTENCY_KEY],
        request=s.StudyCreateSerializer,
        responses={
            201: s.StudySerializer,
            409: OpenApiResponse(
                schema.VALIDATION_ERRORS, description="A study with this slug exists already."
            ),
        },
    )
    @idempotent
    def create(self, request):
        serializer = s.StudyCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            study = create_study(request.user, serializer.validated_data)
        except SlugTaken as exc:
            return APIResponse(exc.errors, status=status.HTTP_409_CONFLICT)
        except StudyError as exc:
            raise ValidationError(exc.errors) from None
        return APIResponse(s.StudySerializer(study).data, status=status.HTTP_201_CREATED)


# --- prompts, responses, judgments ---------------------------------------------------------


@extend_schema(tags=["prompts"], parameters=[SLUG])
class PromptViewSet(mixins.ListModelMixin, StudyScoped):
    """The study's prompts with the ids and model names of their responses; a POST adds
    prompts and outputs given as study-file records, checked as `import_study` checks a
    file: all or nothing, and sending the same records again adds nothing."""

    serializer_class = s.PromptSerializer

    def study_queryset(self):
        responses = Response.objects.select_related("model").order_by("model__name")
        return (
            Prompt.objects.filter(study=self.study)
            .order_by("pk")
            .prefetch_related(Prefetch("responses", queryset=responses))
        )

    @extend_schema(
        parameters=[IDEMPOTENCY_KEY],
        request=s.StudyRecordSerializer(many=True, min_length=1),
        responses={
            201: s.ImportSummarySerializer,
            200: OpenApiResponse(s.ImportSummarySerializer, description="nothing was new"),
            400: BULK_ERRORS,
        },
    )
    @idempotent
    def create(self, request, slug):
        try:
            summary = import_records(request.data, self.study.slug)
        except ImportFileError as exc:
            return bulk_errors(exc.details)
        added = summary.prompts_created + summary.responses_created + summary.tasks_created
        return APIResponse(
            s.ImportSummarySerializer(summary).data,
            status=status.HTTP_201_CREATED if added else status.HTTP_200_OK,
        )


@extend_schema(tags=["responses"], parameters=[SLUG, s.ModelFilter])
class ResponseViewSet(mixins.ListModelMixin, StudyScoped):
    """The models' responses to the study's prompts (?model= for one model's)."""

    serializer_class = s.ResponseSerializer

    def study_queryset(self):
        responses = (
            Response.objects.filter(prompt__study=self.study)
            .select_related("prompt", "model")
            .order_by("prompt_id", "model__name")
        )
        model = query(s.ModelFilter, self.request).get("model")
        return responses if model is None else responses.filter(model__name=model)


@extend_schema(tags=["judgments"], parameters=[SLUG, s.JudgmentFilter])
class JudgmentViewSet(mixins.ListModelMixin, StudyScoped):
    """Judgments of the study's regular tasks (gold tasks, which measure graders, are left
    out, as in the exports), oldest first."""

    serializer_class = s.JudgmentSerializer

    def study_queryset(self):
        filters = query(s.JudgmentFilter, self.request)
        judgments = (
            Judgment.objects.filter(task__study=self.study, task__is_gold=False)
            .select_related(
                "grader", "task__prompt", "task__response_a__model", "task__response_b__model"
            )
            .prefetch_related("ratings")
            .order_by("created_at", "pk")
        )
        if "grader" in filters:
            judgments = judgments.filter(grader__username=filters["grader"])
        if "model" in filters:
            judgments = judgments.filter(
                Q(task__response_a__model__name=filters["model"])
                | Q(task__response_b__model__name=filters["model"])
            )
        if "since" in filters:
            judgments = judgments.filter(created_at__gte=filters["since"])
        if "until" in filters:
            judgments = judgments.filter(created_at__lt=filters["until"])
        return judgments


# --- metric scores -------------------------------------------------------------------------


@extend_schema(tags=["metric scores"], parameters=[SLUG])
class MetricScoreViewSet(mixins.ListModelMixin, StudyScoped):
    """Automatic metric scores of the study's responses (?metric=, ?model=); a POST stores a
    list of scores, replacing earlier values of the same metric, all or nothing."""

    serializer_class = s.MetricScoreSerializer

    def study_queryset(self):
        filters = query(s.MetricFilter, self.request)
        scores = (
            MetricScore.objects.filter(response__prompt__study=self.study)
            .select_related("response__prompt", "response__model")
            .order_by("response__prompt_id", "response__model__name", "metric")
        )
        if "metric" in filters:
            scores = scores.filter(metric=filters["metric"])
        if "model" in filters:
            scores = scores.filter(response__model__name=filters["model"])
        return scores

    @extend_schema(parameters=[s.MetricFilter])
    def list(self, request, *args, **kwargs):
        return super().list(request, *args, **kwargs)

    @extend_schema(
        parameters=[IDEMPOTENCY_KEY],
        request=s.MetricScoreInputSerializer(many=True, min_length=1),
        responses={
            201: s.MetricUpsertSummarySerializer,
            200: OpenApiResponse(
                s.MetricUpsertSummarySerializer, description="only replaced values"
            ),
            400: BULK_ERRORS,
        },
    )
    @idempotent
    def create(self, request, slug):
        if not isinstance(request.data, list) or not request.data:
            return bulk_errors(
                [{"index": None, "field": None, "message": "must be a non-empty list of scores"}]
            )
        scores, details = [], []
        for index, item in enumerate(request.data):
            serializer = s.MetricScoreInputSerializer(data=item)
            if serializer.is_valid():
                scores.append(serializer.validated_data)
                continue
            for field, messages in serializer.errors.items():
                field = None if field == api_settings.NON_FIELD_ERRORS_KEY else field
                details.extend(
                    {"index": index, "field": field, "message": str(m)} for m in messages
                )
        if details:
            return bulk_errors(details)
        try:
            summary = upsert_metric_scores(self.study, scores)
        except MetricScoreError as exc:
            return bulk_errors(exc.details)
        return APIResponse(
            summary, status=status.HTTP_201_CREATED if summary["created"] else status.HTTP_200_OK
        )


# --- results -------------------------------------------------------------------------------


def schema_of(payload_type) -> dict:
    """The OpenAPI response of a results payload type (annotation.results.payloads)."""
    return {200: resolve_type_hint(payload_type)}


def slow_schema(payload_type) -> dict:
    """The responses of a result the background worker computes (annotation.results.background)."""
    return {
        200: resolve_type_hint(payload_type),
        202: OpenApiResponse(s.ComputingSerializer, description="being computed in the background"),
    }


RESULT_HEADERS = [
    OpenApiParameter(
        "Results-Computed-At",
        str,
        OpenApiParameter.HEADER,
        response=True,
        description="when these results were computed (ISO 8601)",
    ),
    OpenApiParameter(
        "Results-Status",
        str,
        OpenApiParameter.HEADER,
        response=True,
        enum=["current", "recomputing"],
        description="recomputing: newer judgments exist and a recomputation is under way",
    ),
]


def result_response(payload: dict, freshness: results.Freshness | None) -> APIResponse:
    """A result as JSON; with its default parameters the last computed one, saying when it
    was computed and whether newer data is being taken in (response headers)."""
    response = APIResponse(payload)
    if freshness is not None:
        if freshness.computed_at:
            response["Results-Computed-At"] = freshness.computed_at.isoformat()
        response["Results-Status"] = "current" if freshness.status == "current" else "recomputing"
    return response


@extend_schema(tags=["results"], parameters=[SLUG, *RESULT_HEADERS])
class ResultsViewSet(StudyScoped):
    """A study's results (annotation.results). With default parameters these are the last
    computed results, as the dashboard shows them (headers say when they were computed);
    other parameters compute them for the current data."""

    def _result(self, name: str, params: dict) -> APIResponse:
        return result_response(*results.latest_result(self.study, name, **params))

    @extend_schema(parameters=[s.BootstrapQuery], responses=schema_of(payloads.LeaderboardPayload))
    @action(detail=False)
    def leaderboard(self, request, slug):
        return self._result("leaderboard", query(s.BootstrapQuery, request))

    @extend_schema(parameters=[s.BootstrapQuery], responses=schema_of(payloads.AgreementPayload))
    @action(detail=False)
    def agreement(self, request, slug):
        return self._result("agreement", query(s.BootstrapQuery, request))

    @extend_schema(parameters=[s.BootstrapQuery], responses=schema_of(payloads.CorrelationsPayload))
    @action(detail=False)
    def correlations(self, request, slug):
        return self._result("correlations", query(s.BootstrapQuery, request))

    @extend_schema(parameters=[s.SlicesQuery], responses=schema_of(payloads.SlicesPayload))
    @action(detail=False)
    def slices(self, request, slug):
        return self._result("slices", query(s.SlicesQuery, request))

    @extend_schema(responses=schema_of(payloads.ProgressPayload))
    @action(detail=False)
    def progress(self, request, slug):
        return self._result("progress", {})

    @extend_schema(responses=schema_of(SwapConsistencyPayload))
    @action(detail=False, url_path="swap-consistency")
    def swap_consistency(self, request, slug):
        """Self-consistency of graders on tasks re-served with the sides swapped (the
        study option `repeat_fraction`), computed for the current data."""
        return APIResponse(results.swap_consistency(self.study))

    @extend_schema(responses={200: OpenApiTypes.OBJECT})
    @action(detail=False)
    def schedule(self, request, slug):
        """The study's pair schedule (uniform or adaptive), its stopping rule, whether it
        stopped serving and why, and the last computation's pair priorities."""
        return APIResponse(schedule.state(self.study))

    @extend_schema(responses=schema_of(payloads.DavidsonPayload))
    @action(detail=False)
    def davidson(self, request, slug):
        """Davidson (1970) ratings with the tie parameter and its interval."""
        return self._result("davidson", {})

    def _slow(self, name: str) -> APIResponse:
        """A result the background worker computes: 202 until its first computation is
        done, then the last computed one (Results-Status: recomputing while a newer one is
        computed)."""
        version = results.latest(self.study)[1].version
        payload, state = background.slow_result(self.study, name, version)
        if payload is None:
            return APIResponse(
                {"status": "computing", "detail": "being computed in the background; retry later"},
                status=status.HTTP_202_ACCEPTED,
            )
        response = APIResponse(payload)
        response["Results-Status"] = "current" if state == background.CURRENT else "recomputing"
        return response

    @extend_schema(responses=slow_schema(payloads.StylePayload))
    @action(detail=False)
    def style(self, request, slug):
        """Ratings controlled for length and Markdown, with the style coefficients."""
        return self._slow("style")

    @extend_schema(responses=slow_schema(payloads.PositionPayload))
    @action(detail=False)
    def position(self, request, slug):
        """Left-side share per grader and model judge; swap consistency of re-served tasks."""
        return self._slow("position")

    @extend_schema(responses=slow_schema(payloads.ConsistencyPayload))
    @action(detail=False)
    def consistency(self, request, slug):
        """Verdicts that contradict the grader's ratings, and preference cycles, per grader."""
        return self._slow("consistency")

    @extend_schema(responses=slow_schema(payloads.TagEffectsPayload))
    @action(detail=False, url_path="tag-effects")
    def tag_effects(self, request, slug):
        """Which tags predict losing a battle, per study and per slice."""
        return self._slow("tag_effects")

    @extend_schema(parameters=[s.CompareQuery], responses=schema_of(payloads.ComparePayload))
    @action(detail=False)
    def compare(self, request, slug):
        params = query(s.CompareQuery, request)
        model_a, model_b = params.pop("model_a"), params.pop("model_b")
        try:
            return APIResponse(results.compare(self.study, model_a, model_b, **params))
        except results.ResultsError as exc:
            field = exc.field or api_settings.NON_FIELD_ERRORS_KEY
            raise ValidationError({field: [str(exc)]}) from None


# --- exports -------------------------------------------------------------------------------


class AnyAccept(BaseContentNegotiation):
    """A download is what it is whatever the client accepts; errors still come as JSON."""

    def select_parser(self, request, parsers):
        return parsers[0]

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type


# Written to a temporary file first (they cannot be streamed as they are produced).
FILE_FORMATS = ("parquet", "xlsx")


@extend_schema(
    tags=["exports"],
    parameters=[
        SLUG,
        OpenApiParameter("fmt", str, OpenApiParameter.PATH, enum=list(exports.FORMATS)),
        s.ExportQuery,
    ],
    responses={
        (200, media_type): OpenApiResponse(
            OpenApiTypes.BINARY,
            description="the export, as an attachment: "
            + "; ".join(f"{fmt}: {content}" for fmt, content in exports.CONTENT_TYPES.items()),
        )
        for media_type in dict.fromkeys(
            content.split(";")[0] for content in exports.CONTENT_TYPES.values()
        )
    },
)
class ExportViewSet(StudyScoped):
    """The study's judgments as a file in one of exports.FORMATS."""

    lookup_field = "fmt"
    lookup_value_regex = "|".join(exports.FORMATS)
    content_negotiation_class = AnyAccept

    def retrieve(self, request, slug, fmt):
        params = s.ExportQuery(data=request.query_params)
        params.is_valid(raise_exception=True)
        filters = params.filters()
        name = exports.filename(self.study, fmt)
        content_type = exports.CONTENT_TYPES[fmt]
        if fmt in FILE_FORMATS:
            out = tempfile.TemporaryFile()  # noqa: SIM115 (the streamed response closes it)
            try:
                exports.write(
                    self.study,
                    fmt,
                    out,
                    filters=filters,
                    slice_by=params.validated_data.get("slice_by"),
                )
            except exports.ExportError as exc:
                out.close()
                raise ValidationError({"slice_by": [str(exc)]}) from None
            out.seek(0)
            return FileResponse(out, as_attachment=True, filename=name, content_type=content_type)
        response = StreamingHttpResponse(
            exports.stream(self.study, fmt, filters=filters), content_type=content_type
        )
        response["Content-Disposition"] = content_disposition_header(True, name)
        return response


def not_found(request, unmatched: str = ""):
    """Any other path under /api/: a JSON 404, like every other API error."""
    return JsonResponse({"detail": "Not found."}, status=status.HTTP_404_NOT_FOUND)


# --- docs ----------------------------------------------------------------------------------

# Swagger UI's page has one inline <style> block and its script sets style attributes;
# scripts stay same-origin only (the page's own script is a separate file).
DOCS_CONTENT_SECURITY_POLICY = CONTENT_SECURITY_POLICY.replace(
    "style-src 'self'", "style-src 'self' 'unsafe-inline'"
)


class DocsView(SpectacularSwaggerSplitView):
    """Swagger UI, served from the app's own static files (drf-spectacular-sidecar)."""

    @extend_schema(exclude=True)
    def get(self, request, *args, **kwargs):
        response = super().get(request, *args, **kwargs)
        response["Content-Security-Policy"] = DOCS_CONTENT_SECURITY_POLICY
        return response
