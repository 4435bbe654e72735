"""The judgment browser: who may open it, every filter, paging, drill-down links, safe output.

Expected sets are computed a second way, by walking every stored judgment in Python, so a
filter that is wrong in SQL cannot agree with its own mistake.
"""

import re
from html import unescape

import pytest
from django.urls import reverse

from annotation import browse
from annotation.handout import Vote
from annotation.ingest.study_files import StudyOptions, import_study
from annotation.models import Judgment, Membership, Rating, Study, Task, User
from tests.conftest import better_side, grade_until_done, join, make_user

pytestmark = pytest.mark.django_db

MODELS = ("alpha-model", "beta-model", "gamma-model")
METADATA = [
    {"language": "en", "level": 1},
    {"language": "de", "level": 2},
    {"language": "en", "level": 2},
    {"language": "de", "level": 1},
]


@pytest.fixture
def study(db, write_jsonl):
    return build_browse_study(write_jsonl)


def build_browse_study(write_jsonl):
    """4 prompts x 3 models (12 pair tasks, overlap 2), graded by two humans and a judge.

    u1 always prefers the better answer (the smaller answer number), rates it good and the
    other poor, tags the worse one untrue, and comments on prompt q0; u2 agrees except that
    it calls every q3 pair a tie and rates q1's left answer acceptable. The model judge
    "robo" prefers the first response of every task on q0.
    """
    records = [
        {
            "id": f"q{i}",
            "prompt": f"Question {i}?" + " Tell me more." * i,
            "metadata": METADATA[i],
            "outputs": {m: f"Answer number {j} to question {i}." for j, m in enumerate(MODELS)},
        }
        for i in range(4)
    ]
    summary = import_study(
        write_jsonl(records),
        "browse",
        StudyOptions(overlap=2, require_ratings=True, tags=["untrue", "harmful"]),
    )
    study = summary.study
    u1, u2 = make_user("u1", "grader"), make_user("u2", "grader")
    join(study, u1, u2)

    def worse(side):
        return "right" if side == "left" else "left"

    def vote_u1(a):
        side = better_side(a)
        comment = "u1 on q0: <b>not bold</b>" if a.task.prompt.external_id == "q0" else ""
        return Vote(
            verdict=side,
            ratings={side: "good", worse(side): "poor"},
            tags={worse(side): ["untrue"]},
            comment=comment,
            seconds=30.0,
        )

    def vote_u2(a):
        side = better_side(a)
        prompt = a.task.prompt.external_id
        ratings = {side: "good", worse(side): "poor"}
        if prompt == "q1":
            ratings["left"] = "acceptable"
        return Vote(verdict="tie" if prompt == "q3" else side, ratings=ratings, seconds=20.0)

    grade_until_done(study, u1, vote_u1)
    grade_until_done(study, u2, vote_u2)
    robo = User.objects.create(username="robo", role="grader", kind=User.Kind.MODEL_JUDGE)
    for task in Task.objects.filter(study=study, prompt__external_id="q0"):
        Judgment.objects.create(task=task, grader=robo, verdict="a", source="imported")
    return study


@pytest.fixture
def rita(study):
    user = make_user("rita", "researcher")
    join(study, user)
    return user


def url(study):
    return reverse("judgments", args=[study.slug])


def shown(study, **params):
    """(task ids on the page, number of tasks, number of matching judgments)."""
    options = browse.options(study)
    form = browse.FilterForm(params, options=options)
    assert form.is_valid(), form.errors
    page = browse.browse(study, form.filters(), form.cleaned_data.get("page") or 1, per_page=100)
    n_judgments = browse.count_judgments(study, form.filters())
    # With every task on one page, the marked judgments are all the matching ones.
    assert page.n_matched_here == n_judgments
    return {item["task_id"] for item in page.items}, page.n_tasks, n_judgments


def by_python(study, keep, *, kind=User.Kind.HUMAN):
    """Tasks and judgments that `keep(judgment)` accepts, walking every judgment."""
    kept = [
        j
        for j in Judgment.objects.filter(task__study=study, task__is_gold=False).select_related(
            "grader", "task__prompt", "task__response_a__model", "task__response_b__model"
        )
        if (kind is None or j.grader.kind == kind) and keep(j)
    ]
    return {j.task_id for j in kept}, len(kept)


def models_of(j):
    return {j.task.response_a.model.name, j.task.response_b.model.name}


def winner(j):
    if j.verdict == "a":
        return j.task.response_a.model.name
    if j.verdict == "b":
        return j.task.response_b.model.name
    return None


def check(study, params, keep, **kw):
    tasks, n_tasks, n_judgments = shown(study, **params)
    expected_tasks, expected_judgments = by_python(study, keep, **kw)
    assert tasks == expected_tasks and n_tasks == len(expected_tasks)
    assert n_judgments == expected_judgments
    return tasks


@pytest.mark.parametrize("who,status", [("grader", 403), ("outsider", 404)])
def test_only_researchers_of_the_study_may_browse(client, study, who, status):
    user = make_user("someone", "grader")
    if who == "grader":
        Membership.objects.create(study=study, user=user)
    client.force_login(user)
    assert client.get(url(study)).status_code == status


def test_anonymous_visitors_are_sent_to_login(client, study):
    response = client.get(url(study))
    assert response.status_code == 302 and "/accounts/login/" in response.url


def test_without_filters_it_shows_every_task_the_humans_judged(study):
    tasks = check(study, {}, lambda j: True)
    assert len(tasks) == 12


def test_a_model_pair_in_either_order(study):
    pair = {"alpha-model", "gamma-model"}
    for model, opponent in (("alpha-model", "gamma-model"), ("gamma-model", "alpha-model")):
        tasks = check(study, {"model": model, "opponent": opponent}, lambda j: models_of(j) == pair)
        assert len(tasks) == 4
    check(study, {"model": "beta-model"}, lambda j: "beta-model" in models_of(j))


def test_verdict_and_preferred_model(study):
    check(study, {"verdict": "tie"}, lambda j: j.verdict == "tie")
    check(study, {"verdict": "decisive"}, lambda j: j.verdict in ("a", "b"))
    check(study, {"winner": "beta-model"}, lambda j: winner(j) == "beta-model")
    check(
        study,
        {"model": "alpha-model", "opponent": "beta-model", "winner": "alpha-model"},
        lambda j: models_of(j) == {"alpha-model", "beta-model"} and winner(j) == "alpha-model",
    )


def _tagged(j, tag, model=None):
    return any(
        tag in r.tags and (model is None or r.response.model.name == model)
        for r in Rating.objects.filter(judgment=j).select_related("response__model")
    )


def test_tags_and_a_tag_on_one_models_answer(study):
    check(study, {"tag": "untrue"}, lambda j: _tagged(j, "untrue"))
    # gamma is always the worse answer, so u1 tagged it in all 8 of its tasks; alpha never.
    tasks = check(
        study,
        {"model": "gamma-model", "tag": "untrue"},
        lambda j: "gamma-model" in models_of(j) and _tagged(j, "untrue", "gamma-model"),
    )
    assert len(tasks) == 8
    assert shown(study, model="alpha-model", tag="untrue")[1] == 0
    assert shown(study, tag="harmful")[1] == 0


def test_one_grader_and_the_model_judges(study):
    check(study, {"grader": "u2"}, lambda j: j.grader.username == "u2")
    tasks = check(study, {"graders": "model_judge"}, lambda j: True, kind=User.Kind.MODEL_JUDGE)
    assert len(tasks) == 3
    check(study, {"graders": "all"}, lambda j: True, kind=None)


def test_graders_disagree(study):
    def verdicts_differ(j):
        humans = Judgment.objects.filter(task=j.task, grader__kind="human")
        return len(set(humans.values_list("verdict", flat=True))) > 1

    tasks = check(study, {"disagree": "verdict"}, verdicts_differ)
    assert {Task.objects.get(pk=t).prompt.external_id for t in tasks} == {"q3"}

    def ratings_differ(j):
        labels = {}
        for r in Rating.objects.filter(judgment__task=j.task, judgment__grader__kind="human"):
            labels.setdefault(r.response_id, set()).add(r.label)
        return any(len(v) > 1 for v in labels.values())

    tasks = check(study, {"disagree": "rating"}, ratings_differ)
    assert tasks and {Task.objects.get(pk=t).prompt.external_id for t in tasks} == {"q1"}

    def tag_differs(j):
        per_response = {}
        for r in Rating.objects.filter(judgment__task=j.task, judgment__grader__kind="human"):
            per_response.setdefault(r.response_id, set()).add("untrue" in r.tags)
        return any(len(v) > 1 for v in per_response.values())

    # u1 tags the worse answer untrue, u2 never does: every task.
    assert len(check(study, {"disagree": "tag:untrue"}, tag_differs)) == 12


def test_prompt_metadata_text_and_numbers(study):
    check(
        study,
        {"meta_language": "de"},
        lambda j: j.task.prompt.metadata["language"] == "de",
    )
    # A number in the metadata matches as the number it is.
    tasks = check(study, {"meta_level": "2"}, lambda j: j.task.prompt.metadata["level"] == 2)
    assert {Task.objects.get(pk=t).prompt.external_id for t in tasks} == {"q1", "q2"}
    check(
        study,
        {"meta_language": "en", "meta_level": "2"},
        lambda j: j.task.prompt.external_id == "q2",
    )


def test_prompt_length_and_prompt_id(study):
    lengths = {p.external_id: len(p.text) for p in study.prompts.all()}
    low, high = lengths["q1"], lengths["q2"]
    check(
        study,
        {"prompt_chars_min": low, "prompt_chars_max": high},
        lambda j: low <= len(j.task.prompt.text) <= high,
    )
    check(study, {"prompt": "q2"}, lambda j: j.task.prompt.external_id == "q2")


def test_it_pages_through_the_tasks_in_order(study):
    options = browse.options(study)
    seen = []
    for number in (1, 2, 3):
        page = browse.browse(study, browse.Filters(), number, per_page=5)
        assert (page.number, page.pages, page.n_tasks, page.more) == (number, 3, 12, False)
        assert (page.previous, page.next) == (
            number - 1 or None,
            number + 1 if number < 3 else None,
        )
        seen += [item["task_id"] for item in page.items]
    assert seen == sorted(Task.objects.filter(study=study).values_list("pk", flat=True))
    # A page past the end shows the last one.
    assert browse.browse(study, browse.Filters(), 99, per_page=5).number == 3
    assert options["models"] == list(MODELS)


def test_past_the_count_cap_it_says_more_and_still_pages(study, monkeypatch):
    monkeypatch.setattr(browse, "COUNT_CAP", 7)
    page = browse.browse(study, browse.Filters(), 1, per_page=5)
    assert (page.n_tasks, page.more, page.pages, page.next) == (7, True, None, 2)
    last = browse.browse(study, browse.Filters(), 3, per_page=5)
    assert (len(last.items), last.next, last.first_index, last.last_index) == (2, None, 11, 12)
    # Past the end of a list longer than the cap: its real last page.
    beyond = browse.browse(study, browse.Filters(), 50, per_page=5)
    assert (beyond.number, len(beyond.items), beyond.next) == (3, 2, None)


def test_each_task_shows_both_responses_and_every_graders_answer(client, study, rita):
    client.force_login(rita)
    task = Task.objects.get(
        study=study,
        prompt__external_id="q0",
        response_a__model__name="alpha-model",
        response_b__model__name="beta-model",
    )
    response = client.get(url(study), {"prompt": "q0", "graders": "all"})
    assert response.status_code == 200
    item = next(i for i in response.context["page"].items if i["task_id"] == task.pk)
    assert [r["model"] for r in item["responses"]] == ["alpha-model", "beta-model"]
    answers = {a["grader"]: a for a in item["answers"]}
    assert set(answers) == {"u1", "u2", "robo"}
    assert answers["u1"]["verdict_text"] == "alpha-model better"
    assert answers["u1"]["ratings"] == ["good", "poor"] and answers["u1"]["tags"] == [
        [],
        ["untrue"],
    ]
    assert answers["robo"]["kind"] == "model_judge" and answers["robo"]["matched"]
    html = response.content.decode()
    assert "Answer number 0 to question 0." in html and "Answer number 1 to question 0." in html
    # A grader's comment is text, never markup.
    assert "u1 on q0: &lt;b&gt;not bold&lt;/b&gt;" in html and "<b>not bold</b>" not in html


def test_model_output_is_sanitised(client, study, rita):
    from annotation.models import Response

    # Saved one by one, as an import stores them: the HTML is rendered when the text is stored.
    for response in Response.objects.filter(prompt__study=study, model__name="alpha-model"):
        response.text = (
            '<script>alert(1)</script> [x](javascript:alert(2)) <img src=x onerror="alert(3)">'
        )
        response.save()
    client.force_login(rita)
    html = client.get(url(study), {"model": "alpha-model"}).content.decode()
    assert "<script>alert(1)" not in html and "<img" not in html
    assert 'href="javascript' not in html
    # Raw HTML in an output shows as text.
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html and "&lt;img src=x onerror" in html


def test_bad_filters_are_named_and_show_nothing(client, study, rita):
    client.force_login(rita)
    response = client.get(url(study), {"model": "no-such-model", "prompt_chars_min": "x"})
    assert response.status_code == 400
    errors = response.context["form"].errors
    assert "no-such-model is not one of the available choices" in " ".join(errors["model"])
    assert "prompt_chars_min" in errors
    assert response.context["page"] is None
    same = client.get(url(study), {"model": "alpha-model", "opponent": "alpha-model"})
    assert "choose a different model" in same.content.decode()


def _links(html, study):
    base = reverse("judgments", args=[study.slug])
    return [unescape(href) for href in re.findall(rf'href="({re.escape(base)}\?[^"]*)"', html)]


def test_the_dashboard_drills_down_into_the_browser(client, study, rita):
    """Every drill-down link of the dashboard opens the browser without error, and each cell
    of the win-rate matrix leads to exactly the verdicts it counts."""
    client.force_login(rita)
    html = client.get(reverse("dashboard", args=[study.slug])).content.decode()
    links = _links(html, study)
    for wanted in (
        "?model=alpha-model",
        "?model=alpha-model&opponent=beta-model",
        "?model=gamma-model&tag=untrue",
        "?grader=u1",
        "?disagree=verdict",
        "?disagree=rating",
        "?disagree=tag%3Auntrue",
        "meta_language=",
        "prompt_chars_min=",
    ):
        assert any(wanted in link for link in links), wanted
    for link in set(links):
        assert client.get(link).status_code == 200, link

    from annotation import results

    matrix = results.leaderboard(study)["matrix"]
    for i, model in enumerate(matrix["models"]):
        for j, opponent in enumerate(matrix["models"]):
            if i != j:
                _, _, n = shown(study, model=model, opponent=opponent)
                assert n == matrix["counts"][i][j]


def test_the_page_answers_over_http(client, study, rita):
    client.force_login(rita)
    response = client.get(url(study), {"model": "alpha-model", "page": "2"})
    assert response.status_code == 200
    html = response.content.decode()
    assert "Tasks <strong>1–8</strong> of <strong>8</strong>" in html
    assert "the 16 that match are marked" in html
    assert Study.objects.get(pk=study.pk).slug == "browse"
