"""Forms normalise; views assign. The grading form is built for a study and a task kind."""

from __future__ import annotations

import time
from functools import lru_cache

from django import forms
from django.core import signing

from annotation.handout import LEFT, RIGHT, SCREEN_VERDICTS, Vote
from annotation.models import Study, Task

SHOWN_AT_SALT = "annotation.grade.shown_at"
MAX_SECONDS = 6 * 3600


def sign_shown_at() -> str:
    return signing.dumps(time.time(), salt=SHOWN_AT_SALT)


class GradeForm(forms.Form):
    """Verdict by screen side, a rating and tags per side, a comment, and when the task was shown."""

    comment = forms.CharField(
        required=False, max_length=5000, widget=forms.Textarea(attrs={"rows": 2})
    )
    shown_at = forms.CharField(required=False, widget=forms.HiddenInput)

    def __init__(self, *args, study: Study, kind: str, **kwargs):
        super().__init__(*args, **kwargs)
        self.study = study
        self.kind = kind
        self.sides, fields = _answer_fields(
            kind, tuple(study.rating_scale), tuple(study.tags), study.require_ratings
        )
        # Shared, not copied: nothing changes a field of this form after it is built
        # (validation only reads them), and building them took a third of the form's time.
        self.fields.update(fields)

    def clean_shown_at(self) -> float | None:
        value = self.cleaned_data.get("shown_at")
        if not value:
            return None
        try:
            shown = float(signing.loads(value, salt=SHOWN_AT_SALT, max_age=MAX_SECONDS))
        except (signing.BadSignature, TypeError, ValueError):
            return None
        return min(max(time.time() - shown, 0.0), MAX_SECONDS)

    def to_vote(self) -> Vote:
        data = self.cleaned_data
        return Vote(
            verdict=data.get("verdict", ""),
            ratings={side: data.get(f"rating_{side}") or "" for side in self.sides},
            tags={side: list(data.get(f"tags_{side}") or []) for side in self.sides},
            comment=data.get("comment", "").strip(),
            seconds=data.get("shown_at"),
        )


@lru_cache(maxsize=256)
def _answer_fields(
    kind: str, scale: tuple, tags: tuple, require_ratings: bool
) -> tuple[tuple[str, ...], dict[str, forms.Field]]:
    """The screen sides of a task kind, and the answer fields a study with these labels
    asks on them: built once per process for each, and shared by the forms."""
    scale_choices = [(label, label) for label in scale]
    tag_choices = [(tag, tag) for tag in tags]
    fields: dict[str, forms.Field] = {}
    if kind == Task.Kind.PAIR:
        sides = (LEFT, RIGHT)
        fields["verdict"] = forms.ChoiceField(
            choices=[(v, v) for v in SCREEN_VERDICTS], widget=forms.RadioSelect
        )
        ratings_required = require_ratings
    else:
        sides = ("single",)
        ratings_required = True
    for side in sides:
        if scale_choices:
            fields[f"rating_{side}"] = forms.ChoiceField(
                choices=scale_choices, required=ratings_required, widget=forms.RadioSelect
            )
        fields[f"tags_{side}"] = forms.MultipleChoiceField(
            choices=tag_choices, required=False, widget=forms.CheckboxSelectMultiple
        )
    return sides, fields


class MetricJobForm(forms.Form):
    """Start a metric computation from the dashboard."""

    metric = forms.CharField(max_length=100)
    model = forms.CharField(max_length=500, required=False)
    store_as = forms.SlugField(max_length=100, required=False)
    batch_size = forms.IntegerField(min_value=1, max_value=4096, required=False)

    def clean_metric(self) -> str:
        from scoring.metrics import metric_names

        name = self.cleaned_data["metric"]
        if name not in metric_names():
            raise forms.ValidationError(f"unknown metric '{name}'")
        return name
