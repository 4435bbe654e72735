"""Forms normalise; views assign. The grading form is built for a study and a task kind."""

from __future__ import annotations

import time

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
        scale = [(label, label) for label in study.rating_scale]
        tags = [(tag, tag) for tag in study.tags]
        if kind == Task.Kind.PAIR:
            self.sides = [LEFT, RIGHT]
            self.fields["verdict"] = forms.ChoiceField(
                choices=[(v, v) for v in SCREEN_VERDICTS], widget=forms.RadioSelect
            )
            ratings_required = study.require_ratings
        else:
            self.sides = ["single"]
            ratings_required = True
        for side in self.sides:
            if scale:
                self.fields[f"rating_{side}"] = forms.ChoiceField(
                    choices=scale, required=ratings_required, widget=forms.RadioSelect
                )
            self.fields[f"tags_{side}"] = forms.MultipleChoiceField(
                choices=tags, required=False, widget=forms.CheckboxSelectMultiple
            )

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
