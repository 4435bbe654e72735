"""What a grader's screen shows, built as plain data with no model names in it.

Views hand these dictionaries to the template. Because the template context is
built here from texts and screen sides only, a partial rendered on its own can
never leak which model wrote which response.
"""

from __future__ import annotations

from annotation.handout import LEFT, RIGHT, screen_verdict, side_to_response
from annotation.models import Assignment, Judgment, Response, Study

SIDE_LABELS = {LEFT: "A", RIGHT: "B", "single": "Response"}
# Keys for ratings and tags per side; the screen shows them beside each choice.
RATING_KEYS = {LEFT: "qwert", RIGHT: "asdfg", "single": "qwert"}
TAG_KEYS = {LEFT: "zxcvbnm", RIGHT: "ZXCVBNM", "single": "zxcvbnm"}
VERDICT_CHOICES = [
    (LEFT, "A is better", "1"),
    (RIGHT, "B is better", "2"),
    ("tie", "Tie", "3"),
    ("both_bad", "Both bad", "4"),
]


def conversation(prompt) -> list[dict]:
    return prompt.conversation_html


def task_screen(assignment: Assignment, study: Study, form) -> dict:
    """Everything the grading partial needs for one assignment, and nothing more."""
    task = assignment.task
    sides = side_to_response(assignment)
    texts = dict(Response.objects.filter(pk__in=sides.values()).values_list("pk", "html"))
    panes = []
    for side, response_id in sides.items():
        rating_field = form[f"rating_{side}"] if f"rating_{side}" in form.fields else None
        panes.append(
            {
                "side": side,
                "label": SIDE_LABELS[side],
                "html": texts[response_id],
                "ratings": _choices(form, f"rating_{side}", RATING_KEYS[side])
                if rating_field
                else [],
                "rating_name": f"rating_{side}",
                "rating_errors": rating_field.errors if rating_field else [],
                "tags": _choices(form, f"tags_{side}", TAG_KEYS[side]),
                "tags_name": f"tags_{side}",
            }
        )
    return {
        "assignment_id": assignment.pk,
        "kind": task.kind,
        "conversation": conversation(task.prompt),
        "panes": panes,
        "verdicts": [
            {"value": v, "label": label, "key": key, "checked": form["verdict"].value() == v}
            for v, label, key in VERDICT_CHOICES
        ]
        if "verdict" in form.fields
        else [],
        "verdict_errors": form["verdict"].errors if "verdict" in form.fields else [],
        "needs_ratings": study.require_ratings or task.kind == "single",
        "comment": form["comment"].value() or "",
    }


def _choices(form, name: str, keys: str) -> list[dict]:
    field = form[name]
    value = field.value()
    selected = set(value if isinstance(value, list | tuple) else [value] if value else [])
    return [
        {
            "value": choice,
            "label": label,
            "key": keys[i] if i < len(keys) else "",
            "checked": choice in selected,
        }
        for i, (choice, label) in enumerate(field.field.choices)
    ]


def reveal(judgment: Judgment, assignment: Assignment) -> list[dict] | None:
    """After the vote, which model wrote each side, when the study allows it."""
    study = assignment.task.study
    if study.blind and not study.reveal_after_vote:
        return None
    names = dict(
        Response.objects.filter(pk__in=side_to_response(assignment).values()).values_list(
            "pk", "model__name"
        )
    )
    return [
        {"label": SIDE_LABELS[side], "model": names[pk]}
        for side, pk in side_to_response(assignment).items()
    ]


def initial_from_judgment(judgment: Judgment) -> dict:
    """Form data that shows an earlier judgment again, in the same screen sides."""
    assignment = judgment.assignment
    by_response = {r.response_id: r for r in judgment.ratings.all()}
    data = {"comment": judgment.comment}
    if judgment.verdict:
        data["verdict"] = screen_verdict(assignment, judgment.verdict)
    for side, pk in side_to_response(assignment).items():
        rating = by_response.get(pk)
        if rating:
            data[f"rating_{side}"] = rating.label
            data[f"tags_{side}"] = list(rating.tags)
    return data
