"""What a grader's screen shows, built as plain data with no model names in it.

Views hand these dictionaries to the template. Because the template context is
built here from texts and screen sides only, a partial rendered on its own can
never leak which model wrote which response.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from django.core.paginator import Page, Paginator
from django.template.loader import render_to_string

from annotation.handout import LEFT, RIGHT, screen_verdict, side_to_response
from annotation.models import Assignment, Judgment, Response, Study, User

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
VERDICT_LABELS = {value: label for value, label, _key in VERDICT_CHOICES}
HISTORY_PAGE_SIZE = 25


def conversation(prompt) -> list[dict]:
    return prompt.conversation_html


def task_screen(assignment: Assignment, study: Study, form=None) -> dict:
    """Everything the grading partial needs for one assignment, and nothing more.

    `form`: the answer being corrected (a refused submission, or an earlier answer to
    change); without it, a blank answer, whose controls are the same for every task of
    the study and are rendered once (`_blank_html`).
    """
    task = assignment.task
    sides = side_to_response(assignment)
    # The hand-out loads the responses with the assignment (handout.SCREEN_RELATED): the
    # HTML stored at import, and the text for its length (imports cap it, MAX_OUTPUT_CHARS).
    loaded = {response.pk: response for response in task.responses}
    needs_ratings = study.require_ratings or task.kind == "single"
    if form is None:
        blank = _blank_html(study, task.kind)
        controls_html, actions_html = blank["sides"], blank["actions"]
    else:
        controls = _controls(form)
        controls_html = {
            side: _controls_html(side, controls["sides"][side], needs_ratings, len(sides))
            for side in sides
        }
        actions_html = _actions_html(controls, _missing(form, controls))
    panes = [
        {
            "side": side,
            "label": SIDE_LABELS[side],
            "html": loaded[response_id].html,
            "length": _length(loaded[response_id].text),
            "controls_html": controls_html[side],
        }
        for side, response_id in sides.items()
    ]
    return {
        "assignment_id": assignment.pk,
        "kind": task.kind,
        "conversation": conversation(task.prompt),
        "panes": panes,
        "needs_ratings": needs_ratings,
        "actions_html": actions_html,
    }


def _controls_html(side: str, controls: tuple, needs_ratings: bool, pane_count: int) -> str:
    """A pane's rating and tag controls (annotation/_pane_controls.html)."""
    ratings, rating_errors, tags = controls
    pane = {
        "label": SIDE_LABELS[side],
        "ratings": ratings,
        "rating_name": f"rating_{side}",
        "missing_label": missing_label(side),
        "rating_errors": rating_errors,
        "tags": tags,
    }
    context = {"pane": pane, "needs_ratings": needs_ratings, "pane_count": pane_count}
    return render_to_string("annotation/_pane_controls.html", context)


def _actions_html(controls: dict, missing: list[str]) -> str:
    """The verdict, the comment and what is missing (annotation/_task_actions.html)."""
    screen = {
        "verdicts": controls["verdicts"],
        "verdict_errors": controls["verdict_errors"],
        "comment": controls["comment"],
        "missing": missing,
    }
    return render_to_string("annotation/_task_actions.html", {"screen": screen})


def _controls(form) -> dict:
    """The form's chips (with what is checked), errors and comment, per screen side."""
    sides = {}
    for side in form.sides:
        rating_field = form[f"rating_{side}"] if f"rating_{side}" in form.fields else None
        sides[side] = (
            chips("rating", f"rating_{side}", _choices(form, f"rating_{side}", RATING_KEYS[side]))
            if rating_field
            else "",
            rating_field.errors if rating_field else [],
            chips("tags", f"tags_{side}", _choices(form, f"tags_{side}", TAG_KEYS[side])),
        )
    has_verdict = "verdict" in form.fields
    verdicts = tuple(
        (v, label, key, has_verdict and form["verdict"].value() == v)
        for v, label, key in VERDICT_CHOICES
    )
    return {
        "sides": sides,
        "verdicts": chips("verdict", "verdict", verdicts) if has_verdict else "",
        "verdict_errors": form["verdict"].errors if has_verdict else [],
        "comment": form["comment"].value() or "",
    }


def _blank_html(study: Study, kind: str) -> dict:
    """A blank answer's controls as HTML: {"sides": {side: pane controls}, "actions": ...}."""
    return _blank_html_of(
        study, kind, tuple(study.rating_scale), tuple(study.tags), study.require_ratings
    )


@lru_cache(maxsize=256)
def _blank_html_of(study: Study, kind: str, *settings) -> dict:
    """Once per study, task kind and the settings they show: every task of a study shows
    the same blank controls, and rendering them per request took a third of the task
    fragment's time."""
    from annotation.forms import GradeForm

    form = GradeForm(study=study, kind=kind)
    controls = _controls(form)
    needs_ratings = study.require_ratings or kind == "single"
    return {
        "sides": {
            side: _controls_html(side, controls["sides"][side], needs_ratings, len(form.sides))
            for side in form.sides
        },
        "actions": _actions_html(controls, []),
    }


def _length(text: str) -> str:
    chars = len(text)
    words = len(text.split())
    return f"{words:,} word{'' if words == 1 else 's'} · {chars:,} characters"


def missing_label(side: str) -> str:
    """How the incomplete warning names a side's rating."""
    return "the rating" if side == "single" else f"{SIDE_LABELS[side]}'s rating"


def _missing(form, controls: dict) -> list[str]:
    """What a refused answer lacks, in the words the warning uses (server-side twin of grade.js)."""
    if not form.is_bound:
        return []
    missing = ["the verdict"] if "verdict" in form.fields and form["verdict"].errors else []
    return missing + [missing_label(side) for side in form.sides if controls["sides"][side][1]]


def _choices(form, name: str, keys: str) -> tuple:
    """A radio or checkbox group as (value, label, key, checked) rows."""
    field = form[name]
    value = field.value()
    selected = set(value if isinstance(value, list | tuple) else [value] if value else [])
    return tuple(
        (choice, label, keys[i] if i < len(keys) else "", choice in selected)
        for i, (choice, label) in enumerate(field.field.choices)
    )


# What each group's chips look like: input type, extra class, whether Shift keys show ⇧.
CHIP_STYLES = {
    "verdict": ("radio", " verdict-choice", False),
    "rating": ("radio", "", False),
    "tags": ("checkbox", " tag", True),
}


@lru_cache(maxsize=512)
def chips(style: str, name: str, choices: tuple) -> str:
    """The chips of one group, rendered once per process for each study's labels and
    each checked state: every task of a study shows the same ones, and rendering them
    took half of the task fragment's time."""
    if not choices:
        return ""
    input_type, extra_class, shift_mark = CHIP_STYLES[style]
    context = {
        "choices": choices,
        "name": name,
        "input_type": input_type,
        "extra_class": extra_class,
        "shift_mark": shift_mark,
    }
    return render_to_string("annotation/_chips.html", context)


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
    # A re-served task's answer (RepeatJudgment) keeps no ratings.
    rated = judgment.ratings.all() if hasattr(judgment, "ratings") else []
    by_response = {r.response_id: r for r in rated}
    data = {"comment": judgment.comment}
    if judgment.verdict:
        data["verdict"] = screen_verdict(assignment, judgment.verdict)
    for side, pk in side_to_response(assignment).items():
        rating = by_response.get(pk)
        if rating:
            data[f"rating_{side}"] = rating.label
            data[f"tags_{side}"] = list(rating.tags)
    return data


def answer_summary(judgment: Judgment) -> dict:
    """An earlier answer as the grader gave it: screen sides and labels, no model names."""
    data = initial_from_judgment(judgment)
    return {
        "judgment_id": judgment.pk,
        "verdict": VERDICT_LABELS.get(data.get("verdict", ""), ""),
        "sides": [
            {
                "label": SIDE_LABELS[side],
                "rating": data.get(f"rating_{side}", ""),
                "tags": data.get(f"tags_{side}", []),
            }
            for side in side_to_response(judgment.assignment)
        ],
        "comment": judgment.comment,
    }


@dataclass
class Notice:
    """What the last action did, told once in the next task's fragment.

    kind: "stored", "already_answered" (the answer kept is in `kept`), "timed_out"
    (nothing stored), "skipped" (with `undo_skip`, the assignment to bring back),
    "unskipped", or "info".
    """

    kind: str
    text: str
    kept: dict | None = None
    revealed: list[dict] | None = None
    undo_skip: int | None = None


def key_help(study: Study) -> list[dict]:
    """Every key of the grading screen, with what it does in this study."""
    scale = list(study.rating_scale)
    tags = list(study.tags)

    def keys(side: str, labels: list[str], table: dict) -> list[str]:
        return list(table[side][: len(labels)])

    rows = []
    if study.asks_pairs:
        rows.append({"keys": ["1", "2", "3", "4"], "does": " · ".join(VERDICT_LABELS.values())})
        if scale:
            rows.append(
                {"keys": keys(LEFT, scale, RATING_KEYS), "does": "Rate A: " + " · ".join(scale)}
            )
            rows.append(
                {"keys": keys(RIGHT, scale, RATING_KEYS), "does": "Rate B: " + " · ".join(scale)}
            )
        if tags:
            rows.append(
                {
                    "keys": keys(LEFT, tags, TAG_KEYS),
                    "does": "Tag a problem in A: " + " · ".join(tags),
                }
            )
            rows.append(
                {
                    "keys": ["Shift+" + k for k in keys(RIGHT, tags, TAG_KEYS)],
                    "does": "The same tags for B (Shift + the key of A's tag)",
                }
            )
    if study.asks_singles:
        if scale:
            rows.append(
                {
                    "keys": keys("single", scale, RATING_KEYS),
                    "does": "Rate a single response: " + " · ".join(scale),
                }
            )
        if tags:
            rows.append(
                {
                    "keys": keys("single", tags, TAG_KEYS),
                    "does": "Tag a problem in a single response: " + " · ".join(tags),
                }
            )
    rows += [
        {"keys": ["/"], "does": "Write a comment (Esc leaves the comment box)"},
        {"keys": ["Enter"], "does": "Submit; when something is missing, shows what"},
        {"keys": ["Ctrl+Enter"], "does": "Submit from the comment box"},
        {"keys": ["k"], "does": "Skip this task"},
        {"keys": ["u"], "does": "Undo the skip you just made; otherwise change your last answer"},
        {"keys": ["h"], "does": "Your answers: reopen and change any of them, undo a skip"},
        {"keys": ["l"], "does": "Link the scrolling of A and B (remembered)"},
        {"keys": ["?"], "does": "Show or hide these instructions"},
        {"keys": ["Esc"], "does": "Close the instructions"},
    ]
    return rows


def history(grader: User, study: Study, page_number) -> tuple[Page, list[dict]]:
    """One page of the grader's answers and skips in the study, newest first."""
    assignments = (
        Assignment.objects.filter(
            grader=grader,
            task__study=study,
            status__in=[Assignment.Status.DONE, Assignment.Status.SKIPPED],
            # Re-served tasks are not listed: the first answer is the one to change.
            repeat=False,
        )
        .select_related("task__prompt", "judgment")
        .prefetch_related("judgment__ratings")
        .order_by("-pk")
    )
    page = Paginator(assignments, HISTORY_PAGE_SIZE).get_page(page_number)
    rows = []
    for assignment in page.object_list:
        judgment = getattr(assignment, "judgment", None)
        row = {
            "assignment_id": assignment.pk,
            "prompt": _excerpt(assignment.task.prompt.text),
            "skipped": assignment.status == Assignment.Status.SKIPPED,
            "when": assignment.assigned_at,
            "answer": None,
            "changed": False,
        }
        if judgment is not None:
            judgment.assignment = assignment  # already loaded; spare a query per row
            row["answer"] = answer_summary(judgment)
            row["when"] = judgment.created_at
            row["changed"] = (judgment.updated_at - judgment.created_at).total_seconds() > 1
        rows.append(row)
    return page, rows


def _excerpt(text: str, limit: int = 160) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"
