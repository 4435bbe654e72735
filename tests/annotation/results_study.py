"""Seeded studies for comparing result payloads across versions of the code.

`build_demo_study` stores the demo's real prompts and outputs (fixtures/demo/) with every
pair of models per prompt, seeded human votes, ratings and tags, the demo's AI-judge
verdicts plus a second, random model judge, gold tasks, grader-quality rows, active
assignments and two automatic metrics. `build_mixed_study` is a small study asking for
pairs and single ratings, with chat prompts, several metadata columns and a metric that
some responses lack.

Rows are created directly, in a fixed order, with fixed timestamps: nothing here goes
through the importers, hand-out or metric code, so the data (and every primary key on a
fresh database) stays the same however those modules change.
"""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta
from itertools import combinations
from pathlib import Path

from annotation.ingest.writing import refresh_statistics
from annotation.models import (
    Assignment,
    GraderQuality,
    Judgment,
    LanguageModel,
    MetricScore,
    Prompt,
    Rating,
    Response,
    Study,
    Task,
    User,
)

DEMO_DIR = Path(__file__).resolve().parents[2] / "fixtures" / "demo"
START = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
# The tables the builders fill, analyzed at the end as an import would (writing.bulk_writes):
# without statistics, PostgreSQL's planner rescans whole tables per row in the results'
# queries once earlier tests have left dead rows behind.
BUILT = (Prompt, Response, Task, Judgment, Rating, Assignment, MetricScore, User)
# Better models win more often: the strength of each demo model (higher is better).
DEMO_STRENGTH = {"gpt4_1106_preview": 3, "claude-2": 2, "vicuna-13b": 1, "alpaca-7b": 0}


def _user(username: str, kind: str = User.Kind.HUMAN) -> User:
    user = User(username=username, role=User.Role.GRADER, kind=kind)
    user.set_unusable_password()
    user.save()
    return user


def _verdict(rng: random.Random, strength_a: float, strength_b: float) -> str:
    draw = rng.random()
    if draw < 0.12:
        return "tie"
    if draw < 0.18:
        return "both_bad"
    p_a = 0.5 + 0.12 * (strength_a - strength_b)
    return "a" if rng.random() < p_a else "b"


def _label(rng: random.Random, scale: list[str], strength: float) -> str:
    weights = [max(0.2, 2.0 - strength * 0.5), 1.5, 0.5 + strength * 0.6]
    return rng.choices(scale, weights=weights[: len(scale)])[0]


def _tags(rng: random.Random, tags: list[str]) -> list[str]:
    return sorted(t for t in tags if rng.random() < 0.08)


class _Clock:
    def __init__(self):
        self.tick = 0

    def __call__(self) -> datetime:
        self.tick += 1
        return START + timedelta(seconds=37 * self.tick)


def _vote(task, grader, verdict, clock, rng, *, labels=None, tags=None, source="grader"):
    judgment = Judgment.objects.create(
        task=task,
        grader=grader,
        verdict=verdict,
        seconds=round(rng.uniform(4, 140), 2),
        source=source,
        created_at=clock(),
    )
    rows = []
    for response_id in [task.response_a_id, task.response_b_id]:
        if response_id is None or labels is None:
            continue
        rows.append(
            Rating(
                judgment=judgment,
                response_id=response_id,
                label=labels.get(response_id, ""),
                tags=(tags or {}).get(response_id, []),
            )
        )
    Rating.objects.bulk_create(rows)
    return judgment


def build_demo_study(seed: int = 0) -> Study:
    """The demo prompts and outputs with seeded human votes (see the module docstring)."""
    rng = random.Random(seed)
    clock = _Clock()
    records = [
        json.loads(line)
        for line in (DEMO_DIR / "study.jsonl").read_text(encoding="utf-8").splitlines()
        if line.strip()
    ]
    tags = ["harmful", "untrue", "unhelpful", "refusal", "context-loss", "formatting"]
    study = Study.objects.create(
        slug="demo-votes",
        name="Demo with seeded votes",
        rating_scale=["poor", "acceptable", "good"],
        good_labels=["good"],
        tags=tags,
        overlap=3,
        require_ratings=True,
        data_sources="AlpacaEval subset (fixtures/demo).",
    )
    names = sorted({name for r in records for name in r["outputs"]})
    models = {name: LanguageModel.objects.create(study=study, name=name) for name in names}
    responses: dict[tuple[str, str], Response] = {}
    prompts = []
    for record in records:
        prompt = Prompt.objects.create(
            study=study,
            external_id=record["id"],
            text=record["prompt"],
            metadata=record.get("metadata") or {},
        )
        prompts.append(prompt)
        for name in names:
            output = record["outputs"][name]
            text = output if isinstance(output, str) else output["text"]
            responses[(record["id"], name)] = Response.objects.create(
                prompt=prompt, model=models[name], text=text
            )
    tasks = []
    for prompt in prompts:
        for x, y in combinations(names, 2):
            ra, rb = sorted(
                (responses[(prompt.external_id, x)], responses[(prompt.external_id, y)]),
                key=lambda r: r.pk,
            )
            tasks.append(
                Task.objects.create(
                    study=study, kind="pair", prompt=prompt, response_a=ra, response_b=rb
                )
            )
    gold = []
    for prompt in prompts[:6]:
        ra = responses[(prompt.external_id, "alpaca-7b")]
        rb = responses[(prompt.external_id, "gpt4_1106_preview")]
        first, second = sorted((ra, rb), key=lambda r: r.pk)
        gold.append(
            Task.objects.create(
                study=study,
                kind="pair",
                prompt=prompt,
                response_a=first,
                response_b=second,
                is_gold=True,
                gold_answer="a" if first == rb else "b",
            )
        )
    graders = [_user(f"human{i:02d}") for i in range(8)]
    strength = {r.pk: DEMO_STRENGTH[name] for (_, name), r in responses.items()}
    # Graders 6 and 7 are careless: their verdicts are coin flips.
    careless = {graders[6].pk, graders[7].pk}
    for task in tasks:
        for grader in rng.sample(graders, 3 if rng.random() < 0.8 else 2):
            sa, sb = strength[task.response_a_id], strength[task.response_b_id]
            if grader.pk in careless:
                sa = sb = 1.5
            verdict = _verdict(rng, sa, sb)
            labels = {
                r: _label(rng, study.rating_scale, strength[r])
                for r in (task.response_a_id, task.response_b_id)
            }
            if rng.random() < 0.05:
                labels[task.response_b_id] = ""  # tags without a label
            marks = {r: _tags(rng, tags) for r in labels}
            _vote(task, grader, verdict, clock, rng, labels=labels, tags=marks)
    for task in gold:
        for grader in graders[:5]:
            verdict = task.gold_answer if rng.random() < 0.8 else "tie"
            _vote(task, grader, verdict, clock, rng)
    # The demo's AI judge, on the tasks of its battles, and a second judge voting at random.
    judge = _user("weighted_alpaca_eval_gpt4_turbo", User.Kind.MODEL_JUDGE)
    by_pair = {
        (t.prompt.external_id, frozenset((t.response_a.model.name, t.response_b.model.name))): t
        for t in tasks
    }
    for line in (DEMO_DIR / "judge_gpt4_turbo.arena.jsonl").read_text().splitlines():
        battle = json.loads(line)
        task = by_pair[(battle["question_id"], frozenset((battle["model_a"], battle["model_b"])))]
        first_is_a = task.response_a.model.name == battle["model_a"]
        winner = battle["winner"]
        verdict = (
            "tie"
            if winner.startswith("tie")
            else ("a" if (winner == "model_a") == first_is_a else "b")
        )
        _vote(task, judge, verdict, clock, rng, source="imported")
    coin = _user("coin-judge", User.Kind.MODEL_JUDGE)
    for task in tasks[::3]:
        _vote(task, coin, rng.choice(["a", "b", "tie"]), clock, rng, source="imported")
    _finish(study, graders, tasks, rng, clock)
    return study


def build_mixed_study(seed: int = 1) -> Study:
    """A small study of pairs and single ratings (see the module docstring)."""
    rng = random.Random(seed)
    clock = _Clock()
    study = Study.objects.create(
        slug="mixed",
        name="Mixed protocol",
        protocol="both",
        rating_scale=["bad", "ok", "fine", "great"],
        good_labels=["fine", "great"],
        tags=["harmful", "untrue"],
        overlap=2,
    )
    names = ["m-small", "m-medium", "m-large"]
    models = {n: LanguageModel.objects.create(study=study, name=n) for n in names}
    power = {"m-small": 0, "m-medium": 1, "m-large": 2}
    tasks, singles, responses = [], [], []
    for i in range(14):
        chat = i % 4 == 0
        text = f"Question {i}: explain topic {i % 5} in {'detail' if i % 2 else 'brief'}."
        prompt = Prompt.objects.create(
            study=study,
            external_id=f"q{i:02d}",
            text=text,
            messages=[{"role": "system", "content": "Be brief."}, {"role": "user", "content": text}]
            if chat
            else None,
            metadata={"language": ["en", "de", "fr"][i % 3], "category": ["code", "chat"][i % 2]},
        )
        mine = [
            Response.objects.create(
                prompt=prompt,
                model=models[n],
                text=f"{n} says {'lorem ' * (3 + 2 * power[n] + i % 3)}",
            )
            for n in names
        ]
        responses.extend(mine)
        for x, y in combinations(mine, 2):
            tasks.append(
                Task.objects.create(
                    study=study, kind="pair", prompt=prompt, response_a=x, response_b=y
                )
            )
        for r in mine:
            singles.append(
                Task.objects.create(study=study, kind="single", prompt=prompt, response_a=r)
            )
    graders = [_user(f"mixer{i}") for i in range(4)]
    scale = study.rating_scale
    for task in tasks:
        for grader in rng.sample(graders, 2):
            sa = power[task.response_a.model.name]
            sb = power[task.response_b.model.name]
            labels = {
                task.response_a_id: rng.choice(scale[sa : sa + 2]),
                task.response_b_id: rng.choice(scale[sb : sb + 2]),
            }
            marks = {r: _tags(rng, study.tags) for r in labels}
            _vote(task, grader, _verdict(rng, sa, sb), clock, rng, labels=labels, tags=marks)
    for task in singles:
        for grader in rng.sample(graders, 2):
            s = power[task.response_a.model.name]
            labels = {task.response_a_id: rng.choice(scale[s : s + 2])}
            _vote(
                task,
                grader,
                "",
                clock,
                rng,
                labels=labels,
                tags={task.response_a_id: _tags(rng, study.tags)},
            )
    _finish(study, graders, tasks + singles, rng, clock)
    for r in responses:
        if r.pk % 5:
            MetricScore.objects.create(
                response=r, metric="lorem_count", value=r.text.count("lorem")
            )
    return study


def _finish(study, graders, tasks, rng, clock) -> None:
    """Slots, a few open assignments, grader-quality rows and metric scores."""
    for task in Task.objects.filter(study=study):
        humans = task.judgments.filter(grader__kind=User.Kind.HUMAN).count()
        Task.objects.filter(pk=task.pk).update(slots_taken=humans)
    for grader, task in zip(graders[:3], tasks[-3:], strict=True):
        if not Judgment.objects.filter(task=task, grader=grader).exists():
            Assignment.objects.create(
                task=task, grader=grader, assigned_at=clock(), expires_at=clock()
            )
            Task.objects.filter(pk=task.pk).update(slots_taken=task.slots_taken + 1)
    for i, grader in enumerate(graders):
        seen = 2 + i % 3
        GraderQuality.objects.create(
            study=study,
            grader=grader,
            judgments=Judgment.objects.filter(grader=grader, task__study=study).count(),
            gold_seen=seen,
            gold_correct=seen - i % 2,
            median_seconds=20.0 + i,
            tie_share=round(rng.random() * 0.3, 3),
        )
    for response in Response.objects.filter(prompt__study=study).order_by("pk"):
        MetricScore.objects.create(response=response, metric="length", value=len(response.text))
        MetricScore.objects.create(
            response=response, metric="words", value=len(response.text.split()) + rng.random()
        )
    refresh_statistics(BUILT)
