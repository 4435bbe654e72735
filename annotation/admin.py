"""The Django admin: every model, with useful list columns, filters and search."""

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin

from annotation import grader_stats, schedule
from annotation.models import (
    Assignment,
    GraderQuality,
    IdempotencyRecord,
    Judgment,
    LanguageModel,
    Membership,
    MetricJob,
    MetricScore,
    Prompt,
    Rating,
    Response,
    ResultCache,
    Study,
    Task,
    User,
)


class ChangesResults:
    """For the admin of data that results read: saving or deleting rows here marks the
    results of the studies they belong to stale (`Study.results_changed`), as imports do;
    `study_path` leads from the model to its study."""

    study_path = "study"

    def _studies(self, queryset) -> list[int]:
        ids = queryset.values_list(f"{self.study_path}__pk", flat=True).distinct()
        return [pk for pk in ids if pk is not None]

    def _results_changed(self, study_ids) -> None:
        for study in Study.objects.filter(pk__in=list(study_ids)):
            study.results_changed()

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        self._results_changed(self._studies(type(obj).objects.filter(pk=obj.pk)))

    def delete_model(self, request, obj):
        studies = self._studies(type(obj).objects.filter(pk=obj.pk))
        super().delete_model(request, obj)
        self._results_changed(studies)

    def delete_queryset(self, request, queryset):
        studies = self._studies(queryset)
        super().delete_queryset(request, queryset)
        self._results_changed(studies)


@admin.register(User)
class AccountAdmin(ChangesResults, UserAdmin):
    study_path = "judgments__task__study"
    list_display = ("username", "role", "kind", "is_active", "last_login", "date_joined")
    list_filter = ("role", "kind", "is_active")
    fieldsets = UserAdmin.fieldsets + (
        ("Evaluation", {"fields": ("role", "kind", "demographics")}),
    )
    add_fieldsets = UserAdmin.add_fieldsets + (("Evaluation", {"fields": ("role", "kind")}),)


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    raw_id_fields = ("user",)


@admin.register(Study)
class StudyAdmin(admin.ModelAdmin):
    list_display = ("slug", "name", "protocol", "status", "overlap", "gold_rate", "created_at")
    list_filter = ("protocol", "status", "blind")
    search_fields = ("slug", "name")
    prepopulated_fields = {"slug": ("name",)}
    inlines = [MembershipInline]

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        # Changed schedule options (a budget raised, say) take effect now, not at the next vote.
        if change and set(form.changed_data) & SCHEDULE_OPTIONS:
            schedule.refresh(obj)


SCHEDULE_OPTIONS = {"schedule", "vote_budget", "stop_when_separated"}


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ("study", "user", "joined_at")
    list_filter = ("study",)
    search_fields = ("user__username", "study__slug")
    raw_id_fields = ("user",)


@admin.register(LanguageModel)
class LanguageModelAdmin(ChangesResults, admin.ModelAdmin):
    list_display = ("name", "study")
    list_filter = ("study",)
    search_fields = ("name",)


@admin.register(Prompt)
class PromptAdmin(ChangesResults, admin.ModelAdmin):
    list_display = ("external_id", "study", "short_text", "has_reference")
    list_filter = ("study",)
    search_fields = ("external_id", "text")

    @admin.display(description="prompt")
    def short_text(self, obj):
        return obj.text[:80]

    @admin.display(boolean=True, description="reference")
    def has_reference(self, obj):
        return bool(obj.reference)


@admin.register(Response)
class ResponseAdmin(ChangesResults, admin.ModelAdmin):
    study_path = "prompt__study"
    list_display = ("id", "prompt", "model", "short_text")
    list_filter = ("prompt__study", "model__name")
    search_fields = ("prompt__external_id", "model__name", "text")
    list_select_related = ("prompt__study", "model")
    raw_id_fields = ("prompt", "model")

    @admin.display(description="output")
    def short_text(self, obj):
        return obj.text[:80]


@admin.register(Task)
class TaskAdmin(ChangesResults, admin.ModelAdmin):
    list_display = ("id", "study", "kind", "prompt", "is_gold", "slots_taken")
    list_filter = ("study", "kind", "is_gold")
    search_fields = ("prompt__external_id",)
    list_select_related = ("study", "prompt__study")
    raw_id_fields = ("prompt", "response_a", "response_b")


@admin.register(Assignment)
class AssignmentAdmin(admin.ModelAdmin):
    list_display = ("id", "task", "grader", "status", "a_on_left", "assigned_at", "expires_at")
    list_filter = ("status", "task__study")
    search_fields = ("grader__username",)
    list_select_related = ("task__study", "grader")
    raw_id_fields = ("task", "grader")


class RatingInline(admin.TabularInline):
    model = Rating
    extra = 0
    raw_id_fields = ("response",)


@admin.register(Judgment)
class JudgmentAdmin(ChangesResults, admin.ModelAdmin):
    study_path = "task__study"
    list_display = ("id", "task", "grader", "verdict", "seconds", "source", "created_at")
    list_filter = ("verdict", "source", "task__study")
    search_fields = ("grader__username", "comment")
    list_select_related = ("task__study", "grader")
    raw_id_fields = ("task", "grader", "assignment")
    inlines = [RatingInline]


@admin.register(Rating)
class RatingAdmin(ChangesResults, admin.ModelAdmin):
    study_path = "judgment__task__study"
    list_display = ("id", "judgment", "response", "label", "tags")
    list_filter = ("label", "judgment__task__study")
    raw_id_fields = ("judgment", "response")


@admin.register(MetricScore)
class MetricScoreAdmin(ChangesResults, admin.ModelAdmin):
    study_path = "response__prompt__study"
    list_display = ("id", "metric", "value", "response", "source", "computed_at")
    list_filter = ("metric",)
    search_fields = ("metric", "response__model__name", "response__prompt__external_id")
    list_select_related = ("response__prompt__study", "response__model")
    raw_id_fields = ("response",)


@admin.register(GraderQuality)
class GraderQualityAdmin(ChangesResults, admin.ModelAdmin):
    list_display = (
        "grader",
        "study",
        "judgments",
        "gold_seen",
        "gold_correct",
        "median_seconds",
        "tie_share",
        "updated_at",
    )
    list_filter = ("study",)
    search_fields = ("grader__username",)
    list_select_related = ("grader", "study")
    raw_id_fields = ("grader",)

    def changelist_view(self, request, extra_context=None):
        # Medians are computed when read (annotation.grader_stats): bring them up to date.
        for study in Study.objects.filter(grader_quality__isnull=False).distinct():
            grader_stats.for_study(study)
        return super().changelist_view(request, extra_context)


@admin.register(MetricJob)
class MetricJobAdmin(admin.ModelAdmin):
    list_display = (
        "store_as",
        "study",
        "model_path",
        "status",
        "done",
        "total",
        "created_by",
        "created_at",
        "finished_at",
    )
    list_filter = ("status", "metric", "study")
    search_fields = ("store_as", "model_path", "message")
    list_select_related = ("study", "created_by")
    raw_id_fields = ("created_by",)


@admin.register(ResultCache)
class ResultCacheAdmin(admin.ModelAdmin):
    list_display = ("key", "study", "version", "seconds", "computed_at")
    list_filter = ("study",)
    search_fields = ("key",)


@admin.register(IdempotencyRecord)
class IdempotencyRecordAdmin(admin.ModelAdmin):
    list_display = ("key", "user", "method", "path", "status_code", "created_at")
    list_filter = ("method", "status_code")
    search_fields = ("key", "path", "user__username")
    raw_id_fields = ("user",)
