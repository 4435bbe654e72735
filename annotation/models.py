"""The data model: studies, the models under evaluation, prompts, responses,
tasks, assignments, judgments and metric scores.

What an object knows about itself lives here (a study knows its protocol and
scale, an assignment whether it expired). Work that spans many objects lives
in modules named for what it does (importing.py, handout.py, tables.py).
"""

from __future__ import annotations

import random
from datetime import timedelta

from django.conf import settings
from django.contrib.auth.models import AbstractUser
from django.db import models
from django.db.models import F, Q
from django.utils import timezone

from annotation.plans import ConstantExact
from annotation.rendering import render_conversation, render_markdown

DEFAULT_RATING_SCALE = ["poor", "acceptable", "good"]
DEFAULT_GOOD_LABELS = ["good"]
DEFAULT_TAGS = ["harmful", "untrue", "unhelpful"]


class User(AbstractUser):
    """An account. Its role decides what it may see; study membership decides where."""

    class Role(models.TextChoices):
        GRADER = "grader", "Grader"
        RESEARCHER = "researcher", "Researcher"
        ADMIN = "admin", "Admin"

    class Kind(models.TextChoices):
        HUMAN = "human", "Human"
        MODEL_JUDGE = "model_judge", "Model judge"

    role = models.CharField(max_length=16, choices=Role.choices, default=Role.GRADER)
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.HUMAN)
    # Self-reported and optional; only ever shown aggregated.
    demographics = models.JSONField(default=dict, blank=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(role__in=["grader", "researcher", "admin"]), name="user_role_valid"
            ),
        ]

    @property
    def is_researcher(self) -> bool:
        return self.role in (self.Role.RESEARCHER, self.Role.ADMIN) or self.is_superuser

    def apply_role(self) -> None:
        """Admins get the Django admin; nobody else does."""
        is_admin = self.role == self.Role.ADMIN
        self.is_staff = is_admin
        self.is_superuser = is_admin


class Study(models.Model):
    class Protocol(models.TextChoices):
        PAIRWISE = "pairwise", "Pairwise comparison"
        SINGLE = "single", "Single-response rating"
        BOTH = "both", "Pairwise and single"

    class Schedule(models.TextChoices):
        UNIFORM = "uniform", "Uniform"
        ADAPTIVE = "adaptive", "Adaptive"

    class StopReason(models.TextChoices):
        BUDGET = "budget", "vote budget reached"
        SEPARATED = "separated", "rating intervals separated"
        NO_OPEN_PAIR = "no_open_pair", "every pair stopped"

    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        ACTIVE = "active", "Active"
        PAUSED = "paused", "Paused"
        CLOSED = "closed", "Closed"

    slug = models.SlugField(max_length=80, unique=True)
    name = models.CharField(max_length=200)
    instructions = models.TextField(blank=True)
    # Where the prompts and outputs come from and under which licences (for the model card).
    data_sources = models.TextField(blank=True)
    protocol = models.CharField(max_length=16, choices=Protocol.choices, default=Protocol.PAIRWISE)
    # Ordered labels, worst first, and the subset that counts as a good result.
    rating_scale = models.JSONField(default=list)
    good_labels = models.JSONField(default=list)
    tags = models.JSONField(default=list, blank=True)
    overlap = models.PositiveSmallIntegerField(default=3)
    # In a pairwise study the verdict alone completes a task unless this is set.
    require_ratings = models.BooleanField(default=False)
    # The design of the grading queue: a balanced sample of this many model pairs per
    # prompt, or every pair when empty. Every import into the study keeps it.
    pairs_per_prompt = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text="model pairs per prompt in the grading queue (empty: every pair)",
    )
    blind = models.BooleanField(default=True)
    reveal_after_vote = models.BooleanField(default=False)
    gold_rate = models.FloatField(default=0.0)
    # Graders whose median time per judgment lies below this are flagged as implausibly fast
    # on the dashboard (reading a prompt and two answers takes longer than that).
    min_median_seconds = models.FloatField(
        default=10.0,
        help_text="Flag graders whose median seconds per judgment is below this.",
    )
    # Study options of the hand-out (annotation.handout, annotation.schedule).
    # Swapped re-serve: this share of each grader's pair judgments is served to them again,
    # with the sides swapped and unmarked, after at least `repeat_after` other tasks of
    # theirs; the two verdicts measure their swap consistency (results/position.py).
    repeat_fraction = models.FloatField(
        default=0.0,
        help_text="share of each grader's pair tasks re-served later with sides swapped (0: off)",
    )
    repeat_after = models.PositiveIntegerField(
        default=10, help_text="re-serve a task after at least this many other tasks of the grader"
    )
    # Pair scheduling: uniform (every pair alike) or adaptive (the model pairs whose next
    # vote shrinks the leaderboard's intervals most first, annotation.schedule), with a
    # stopping rule: a vote budget, and stopping pairs (and the study) whose rating
    # intervals have separated.
    schedule = models.CharField(max_length=16, choices=Schedule.choices, default=Schedule.UNIFORM)
    vote_budget = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text="stop serving once this many votes are counted (empty: no budget)",
    )
    stop_when_separated = models.BooleanField(
        default=True,
        help_text="adaptive schedule: stop a pair, and the study, once the rating intervals separate",
    )
    # Why the scheduling job stopped the study ("" while it is served): a StopReason.
    schedule_stop = models.CharField(max_length=16, blank=True, default="")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACTIVE)
    # Bumped by `results_changed` (imports, metric scores, edits, deletions; not by votes,
    # which move the data version by their own row); part of the results' data version.
    results_version = models.PositiveBigIntegerField(default=0)
    members = models.ManyToManyField(
        settings.AUTH_USER_MODEL, through="Membership", related_name="studies", blank=True
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name_plural = "studies"
        ordering = ["slug"]
        constraints = [
            models.CheckConstraint(condition=Q(overlap__gte=1), name="study_overlap_positive"),
            models.CheckConstraint(
                condition=Q(gold_rate__gte=0) & Q(gold_rate__lte=1), name="study_gold_rate_0_1"
            ),
            models.CheckConstraint(
                condition=Q(protocol__in=["pairwise", "single", "both"]),
                name="study_protocol_valid",
            ),
            models.CheckConstraint(
                condition=Q(pairs_per_prompt__isnull=True) | Q(pairs_per_prompt__gte=1),
                name="study_pairs_per_prompt_positive",
            ),
            models.CheckConstraint(
                condition=Q(min_median_seconds__gte=0),
                name="study_min_median_seconds_nonnegative",
            ),
            models.CheckConstraint(
                condition=Q(repeat_fraction__gte=0) & Q(repeat_fraction__lte=1),
                name="study_repeat_fraction_0_1",
            ),
            models.CheckConstraint(
                condition=Q(schedule__in=["uniform", "adaptive"]), name="study_schedule_valid"
            ),
        ]

    def __str__(self) -> str:
        return self.slug

    @property
    def asks_pairs(self) -> bool:
        return self.protocol in (self.Protocol.PAIRWISE, self.Protocol.BOTH)

    @property
    def asks_singles(self) -> bool:
        return self.protocol in (self.Protocol.SINGLE, self.Protocol.BOTH)

    @property
    def stopped(self) -> bool:
        """Whether the scheduling job stopped serving the study (`schedule_stop`)."""
        return bool(self.schedule_stop)

    @property
    def stop_label(self) -> str:
        """Why the study stopped serving, in words ("" while it is served)."""
        if not self.schedule_stop:
            return ""
        return str(self.StopReason(self.schedule_stop).label)

    def is_good(self, label: str) -> bool:
        return label in self.good_labels

    def queue_size(self) -> int:
        """Tasks in the grading queue (the study's design; gold tasks are extra)."""
        return self.tasks.filter(is_gold__in=[False], in_queue__in=[True]).count()

    def results_changed(self, *, new_judgment: bool = False) -> None:
        """Tell the study's cached results that its data changed; call it inside the
        transaction that changed it. This is the one call every writer makes.

        - The vote path (a grader's new judgment, `handout.record_vote`) passes
          ``new_judgment=True``. That writes nothing and enqueues nothing: the new row
          itself moves the data version (judgment ids only grow, see
          `annotation.results.version`), so concurrent votes never contend on a shared
          row. Readers notice the change and one background recomputation follows
          (`annotation.results.store`).
        - Everything else calls it plainly: imports (prompts, judgments, gold), metric
          scores, changed or deleted judgments and ratings, study settings. That bumps
          `results_version`, one UPDATE of this study's row.
        """
        if new_judgment:
            return
        Study.objects.filter(pk=self.pk).update(results_version=F("results_version") + 1)


class Membership(models.Model):
    study = models.ForeignKey(Study, on_delete=models.CASCADE)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE)
    joined_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["study", "user"], name="membership_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.user} in {self.study}"


class LanguageModel(models.Model):
    """A system under evaluation. Its name never reaches a grader before the vote."""

    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="models")
    name = models.CharField(max_length=200)

    class Meta:
        ordering = ["study", "name"]
        constraints = [
            models.UniqueConstraint(fields=["study", "name"], name="model_unique_name"),
        ]

    def __str__(self) -> str:
        return self.name


class Prompt(models.Model):
    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="prompts")
    external_id = models.CharField(max_length=200)
    # Plain text of the prompt; for a chat prompt, the last user turn.
    text = models.TextField()
    # The whole conversation for a multi-turn prompt, else null.
    messages = models.JSONField(null=True, blank=True)
    reference = models.TextField(null=True, blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    # The conversation rendered once, when the prompt is stored: [{"role", "html"}, ...]
    # (Markdown to sanitised HTML), so no page renders untrusted text on a request.
    conversation_html = models.JSONField(default=list, blank=True, editable=False)

    class Meta:
        ordering = ["study", "id"]
        constraints = [
            models.UniqueConstraint(fields=["study", "external_id"], name="prompt_unique_id"),
        ]

    def __str__(self) -> str:
        return f"{self.study.slug}/{self.external_id}"

    def save(self, *args, **kwargs):
        _render_before_save(self, kwargs, ("text", "messages"), "conversation_html")
        super().save(*args, **kwargs)

    @property
    def conversation(self) -> list[dict]:
        return self.messages or [{"role": "user", "content": self.text}]

    def render(self) -> None:
        self.conversation_html = render_conversation(self.conversation)


class Response(models.Model):
    prompt = models.ForeignKey(Prompt, on_delete=models.CASCADE, related_name="responses")
    model = models.ForeignKey(LanguageModel, on_delete=models.CASCADE, related_name="responses")
    text = models.TextField()
    metadata = models.JSONField(default=dict, blank=True)
    # The text rendered once, when the response is stored (Markdown to sanitised HTML):
    # the grading screen shows this and never renders an output on a request.
    html = models.TextField(blank=True, default="", editable=False)

    class Meta:
        ordering = ["prompt", "model"]
        constraints = [
            models.UniqueConstraint(fields=["prompt", "model"], name="response_unique_per_model"),
        ]

    def __str__(self) -> str:
        return f"{self.prompt} / {self.model}"

    def save(self, *args, **kwargs):
        _render_before_save(self, kwargs, ("text",), "html")
        super().save(*args, **kwargs)

    def render(self) -> None:
        self.html = render_markdown(self.text)


def _render_before_save(obj, kwargs: dict, sources: tuple[str, ...], target: str) -> None:
    """Refresh an object's stored HTML when a save writes the text it comes from. (Bulk
    writes skip save(); the imports render as they write.)"""
    update_fields = kwargs.get("update_fields")
    if update_fields is not None and not set(sources) & set(update_fields):
        return
    obj.render()
    if update_fields is not None:
        kwargs["update_fields"] = {*update_fields, target}


def _random_order_key() -> int:
    return random.randrange(2**31)


class Task(models.Model):
    """What one grader judges once: a pair of responses to one prompt, or one response.

    A pair is stored with response_a.id < response_b.id, so a pair exists once;
    the screen side each response takes is decided per assignment.
    """

    class Kind(models.TextChoices):
        PAIR = "pair", "Pair"
        SINGLE = "single", "Single"

    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="tasks")
    kind = models.CharField(max_length=8, choices=Kind.choices)
    prompt = models.ForeignKey(Prompt, on_delete=models.CASCADE, related_name="tasks")
    response_a = models.ForeignKey(Response, on_delete=models.CASCADE, related_name="+")
    response_b = models.ForeignKey(
        Response, on_delete=models.CASCADE, related_name="+", null=True, blank=True
    )
    is_gold = models.BooleanField(default=False)
    # For gold tasks: the known verdict ("a", "b", "tie", "both_bad") or rating label.
    gold_answer = models.CharField(max_length=64, blank=True)
    # Graders holding or having finished this task; hand-out fills the lowest first.
    slots_taken = models.PositiveIntegerField(default=0)
    # A random key that shuffles the order tasks are handed out in, so that a grader
    # does not see the pairs of one prompt one after another.
    order_key = models.PositiveIntegerField(default=_random_order_key)
    # In the study's grading queue (its design: every pair, or a balanced sample per
    # prompt). A pair that only imported judgments compared, such as a model judge's, has
    # a task to hold those judgments but is never handed to graders.
    in_queue = models.BooleanField(default=True)
    # The adaptive schedule (annotation.schedule) writes these for its model pair: the
    # hand-out serves lower `priority` first (before the fill and the random order), and
    # never a `stopped` pair. Under the uniform schedule they stay 0 and False.
    priority = models.IntegerField(default=0, db_default=0)
    stopped = models.BooleanField(default=False, db_default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        indexes = [
            models.Index(
                fields=[
                    "study",
                    "is_gold",
                    "in_queue",
                    "stopped",
                    "priority",
                    "slots_taken",
                    "order_key",
                ],
                name="task_handout_idx",
            ),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(kind__in=["pair", "single"]), name="task_kind_valid"
            ),
            models.CheckConstraint(
                condition=(
                    Q(kind="pair") & Q(response_b__isnull=False) & Q(response_a__lt=F("response_b"))
                )
                | (Q(kind="single") & Q(response_b__isnull=True)),
                name="task_pair_shape",
            ),
            models.UniqueConstraint(
                fields=["response_a", "response_b"],
                condition=Q(kind="pair", is_gold=False),
                name="task_unique_pair",
            ),
            models.UniqueConstraint(
                fields=["response_a"],
                condition=Q(kind="single", is_gold=False),
                name="task_unique_single",
            ),
            models.CheckConstraint(condition=Q(slots_taken__gte=0), name="task_slots_nonnegative"),
        ]
        # Triggers (migration 0002) also check that both responses answer this task's prompt.

    def __str__(self) -> str:
        return f"task {self.pk} ({self.kind}) in {self.study_id}"

    @property
    def responses(self) -> list[Response]:
        return (
            [self.response_a] if self.response_b_id is None else [self.response_a, self.response_b]
        )


class Assignment(models.Model):
    """A task handed to a grader, with the screen order drawn for them."""

    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        DONE = "done", "Done"
        SKIPPED = "skipped", "Skipped"
        EXPIRED = "expired", "Expired"
        # A swapped re-serve waiting for its grader to do `due_after` tasks first.
        QUEUED = "queued", "Queued"

    task = models.ForeignKey(Task, on_delete=models.CASCADE, related_name="assignments")
    grader = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="assignments"
    )
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.ACTIVE)
    # True when task.response_a is shown on the left (as "A").
    a_on_left = models.BooleanField(default=True)
    assigned_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    # A swapped re-serve of a task the grader judged (Study.repeat_fraction): it takes no
    # slot of the task's overlap, and its answer is a RepeatJudgment, never a Judgment.
    repeat = models.BooleanField(default=False, db_default=False)
    # For a queued re-serve: served once the grader has this many judgments in the study.
    due_after = models.PositiveIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["id"]
        indexes = [
            models.Index(fields=["grader", "status"], name="assignment_grader_status_idx"),
            models.Index(fields=["status", "expires_at"], name="assignment_expiry_idx"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["task", "grader", "repeat"], name="assignment_once_per_grader"
            ),
            models.CheckConstraint(
                condition=Q(status__in=["active", "done", "skipped", "expired", "queued"]),
                name="assignment_status_valid",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.task} -> {self.grader} ({self.status})"

    def save(self, *args, **kwargs):
        if self.expires_at is None:
            self.expires_at = self.default_expiry()
        super().save(*args, **kwargs)

    @staticmethod
    def default_expiry():
        return timezone.now() + timedelta(minutes=settings.ASSIGNMENT_TIMEOUT_MINUTES)

    @property
    def is_expired(self) -> bool:
        return self.status == self.Status.ACTIVE and self.expires_at <= timezone.now()


# Planned knowing the value: a generic plan of "status = $1" scanned a grader's whole
# history for the active assignment (annotation.plans).
Assignment._meta.get_field("status").register_lookup(ConstantExact)


class Judgment(models.Model):
    """One grader's verdict on one task.

    The verdict names the task's responses ("a" is task.response_a), never a
    screen side. Single-response tasks have an empty verdict.
    """

    class Verdict(models.TextChoices):
        A = "a", "Response A better"
        B = "b", "Response B better"
        TIE = "tie", "Tie"
        BOTH_BAD = "both_bad", "Both bad"
        NONE = "", "No verdict (single response)"

    class Source(models.TextChoices):
        GRADER = "grader", "Graded here"
        IMPORTED = "imported", "Imported"

    task = models.ForeignKey(Task, on_delete=models.CASCADE, related_name="judgments")
    grader = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="judgments"
    )
    assignment = models.OneToOneField(
        Assignment, on_delete=models.SET_NULL, null=True, blank=True, related_name="judgment"
    )
    verdict = models.CharField(max_length=8, choices=Verdict.choices, blank=True)
    comment = models.TextField(blank=True)
    seconds = models.FloatField(null=True, blank=True)
    source = models.CharField(max_length=8, choices=Source.choices, default=Source.GRADER)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["task", "grader"], name="judgment_once_per_grader"),
            models.CheckConstraint(
                condition=Q(verdict__in=["a", "b", "tie", "both_bad", ""]),
                name="judgment_verdict_valid",
            ),
            models.CheckConstraint(
                condition=Q(seconds__isnull=True) | Q(seconds__gte=0),
                name="judgment_seconds_nonnegative",
            ),
        ]

    def __str__(self) -> str:
        return f"judgment {self.pk} on {self.task_id} by {self.grader_id}"


class RepeatJudgment(models.Model):
    """A grader's verdict on a task re-served to them with the sides swapped.

    Kept apart from Judgment on purpose: every count, result, agreement, leaderboard and
    export reads Judgment, where a grader has one vote per task, so a re-serve is never
    an extra independent vote. It is read only for swap consistency
    (annotation.results.position) and is in no export. The verdict names the task's
    responses, as a Judgment's does; the sides shown are its assignment's.
    """

    task = models.ForeignKey(Task, on_delete=models.CASCADE, related_name="repeat_judgments")
    grader = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="repeat_judgments"
    )
    # The grader's judgment of the task that this one repeats.
    first = models.ForeignKey(Judgment, on_delete=models.CASCADE, related_name="repeats")
    assignment = models.OneToOneField(
        Assignment, on_delete=models.CASCADE, related_name="repeat_judgment"
    )
    verdict = models.CharField(max_length=8, choices=Judgment.Verdict.choices, blank=True)
    comment = models.TextField(blank=True)
    seconds = models.FloatField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["task", "grader"], name="repeat_once_per_grader"),
            models.CheckConstraint(
                condition=Q(verdict__in=["a", "b", "tie", "both_bad", ""]),
                name="repeat_verdict_valid",
            ),
        ]

    def __str__(self) -> str:
        return f"repeat {self.pk} of judgment {self.first_id}"


class StudySchedule(models.Model):
    """The adaptive schedule's bookkeeping for one study (annotation.schedule): whether a
    recomputation is queued, and what the last one found. Written by the scheduling job
    and, once per several votes, by a conditional update that queues it."""

    study = models.OneToOneField(Study, on_delete=models.CASCADE, related_name="pair_schedule")
    queued_at = models.DateTimeField(null=True, blank=True)
    computed_at = models.DateTimeField(null=True, blank=True)
    seconds = models.FloatField(default=0)
    # The counted votes the last computation saw, and its summary (scoring.adaptive.Schedule).
    votes = models.PositiveIntegerField(default=0)
    summary = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)

    def __str__(self) -> str:
        return f"schedule of {self.study_id}"


class Rating(models.Model):
    """A judgment's rating label and tags for one of its task's responses."""

    judgment = models.ForeignKey(Judgment, on_delete=models.CASCADE, related_name="ratings")
    response = models.ForeignKey(Response, on_delete=models.CASCADE, related_name="ratings")
    label = models.CharField(max_length=64, blank=True)
    tags = models.JSONField(default=list, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["judgment", "response"], name="rating_once_per_response"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.label or '-'} {self.tags} on {self.response_id}"


class MetricScore(models.Model):
    """One automatic metric's value for one response, computed here or imported."""

    response = models.ForeignKey(Response, on_delete=models.CASCADE, related_name="metric_scores")
    metric = models.CharField(max_length=100)
    value = models.FloatField()
    # Where it came from: the model path used, or the imported file.
    source = models.CharField(max_length=500, blank=True)
    computed_at = models.DateTimeField(auto_now=True)

    class Meta:
        indexes = [models.Index(fields=["metric"], name="metricscore_metric_idx")]
        constraints = [
            models.UniqueConstraint(fields=["response", "metric"], name="metric_once_per_response"),
        ]

    def __str__(self) -> str:
        return f"{self.metric}={self.value:.4g} on {self.response_id}"


class GraderQuality(models.Model):
    """Each grader's quality signals and progress in a study (annotation.grader_stats).

    The counters move with every judgment the grader records, at a constant cost; the
    median is recomputed when a researcher reads it (`grader_stats.for_study`), because
    an exact median cannot be kept up to date without reading the grader's history.
    """

    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="grader_quality")
    grader = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="quality"
    )
    # Judgments of regular tasks; gold_seen counts those of gold tasks.
    judgments = models.PositiveIntegerField(default=0)
    gold_seen = models.PositiveIntegerField(default=0)
    gold_correct = models.PositiveIntegerField(default=0)
    # Judgments of pairs, those that were ties, and those with a time taken.
    pairs = models.PositiveIntegerField(default=0)
    ties = models.PositiveIntegerField(default=0)
    timed = models.PositiveIntegerField(default=0)
    # Swapped re-serves answered (RepeatJudgment): part of the grader's progress only.
    repeats = models.PositiveIntegerField(default=0, db_default=0)
    median_seconds = models.FloatField(null=True, blank=True)
    # How many timed judgments median_seconds was computed from: stale while != timed.
    median_of = models.PositiveIntegerField(default=0)
    tie_share = models.FloatField(null=True, blank=True)
    # The grader's screen progress: regular tasks still open to them or held by them,
    # counted exactly at remaining_counted_at and moved by their own votes and skips since.
    remaining = models.IntegerField(null=True, blank=True)
    remaining_counted_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "grader quality"
        constraints = [
            models.UniqueConstraint(fields=["study", "grader"], name="quality_once_per_grader"),
        ]

    def __str__(self) -> str:
        return f"{self.grader} in {self.study}"

    @property
    def done(self) -> int:
        """Tasks done on the grader's screen: judgments, gold ones and re-serves."""
        return self.judgments + self.gold_seen + self.repeats

    @property
    def gold_accuracy(self) -> float | None:
        return self.gold_correct / self.gold_seen if self.gold_seen else None


class ResultCache(models.Model):
    """A computed result (leaderboard, agreement, ...) of one version of a study's data.

    Kept in the database, not in process memory, so every app process shares it.
    """

    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="result_cache")
    key = models.CharField(max_length=200)
    # The data version it was computed from (annotation.results.version.data_version).
    version = models.CharField(max_length=100)
    payload = models.JSONField()
    computed_at = models.DateTimeField(auto_now=True)
    seconds = models.FloatField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["study", "key"], name="result_cache_unique")]

    def __str__(self) -> str:
        return f"{self.study.slug}:{self.key}@{self.version}"


class ResultsRefresh(models.Model):
    """When a study's results were last computed, and whether a recomputation is queued
    or running (annotation.results.store). One row per study, written by result readers
    and the background job, never by a vote."""

    study = models.OneToOneField(Study, on_delete=models.CASCADE, related_name="results_refresh")
    # The data version of the stored results, and the watermark last seen to match it.
    data_version = models.CharField(max_length=100, blank=True)
    watermark = models.CharField(max_length=100, blank=True)
    computed_at = models.DateTimeField(null=True, blank=True)
    checked_at = models.DateTimeField(null=True, blank=True)
    seconds = models.FloatField(default=0)
    # A recomputation waiting for a worker (due at run_after), or running since started_at.
    queued_at = models.DateTimeField(null=True, blank=True)
    run_after = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    # The queued job (django-tasks result id), dropped if a request computes in its place.
    job_id = models.CharField(max_length=64, blank=True)
    error = models.TextField(blank=True)

    def __str__(self) -> str:
        return f"results of {self.study_id} at {self.data_version or 'never'}"


class IdempotencyRecord(models.Model):
    """The response to a write sent with an Idempotency-Key, replayed when it is retried."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE)
    key = models.CharField(max_length=200)
    method = models.CharField(max_length=8)
    path = models.CharField(max_length=500)
    # SHA-256 of the request body (canonical JSON): a retry must send the same body.
    # Empty for records stored before fingerprints were kept.
    fingerprint = models.CharField(max_length=64, blank=True, default="")
    status_code = models.PositiveSmallIntegerField()
    body = models.JSONField(null=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "key"], name="idempotency_once")]

    def __str__(self) -> str:
        return f"{self.method} {self.path} [{self.key}]"


class MetricJob(models.Model):
    """A metric computation started from the dashboard and run by a background worker."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="metric_jobs")
    metric = models.CharField(max_length=100)
    model_path = models.CharField(max_length=500, blank=True)
    store_as = models.CharField(max_length=100)
    batch_size = models.PositiveIntegerField(null=True, blank=True)
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.QUEUED)
    done = models.PositiveIntegerField(default=0)
    total = models.PositiveIntegerField(default=0)
    message = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True
    )
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.store_as} on {self.study.slug} ({self.status})"

    @property
    def percent(self) -> int:
        return round(100 * self.done / self.total) if self.total else 0

    # A queued job no worker has taken after this long probably has no worker to go to.
    WORKER_WAIT = timedelta(seconds=30)

    @property
    def finished(self) -> bool:
        return self.status in (self.Status.DONE, self.Status.FAILED)

    @property
    def waiting_for_worker(self) -> bool:
        return (
            self.status == self.Status.QUEUED
            and self.created_at is not None
            and timezone.now() - self.created_at > self.WORKER_WAIT
        )
