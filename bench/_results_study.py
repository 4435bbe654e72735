"""The seeded study of 100,000 judgments the grading and results benchmarks read.

The rows are those `build` in bench/bench_grading.py made at commit cb97e72, when the
payloads in bench/fixtures/results_100k_before.json.gz were computed from them: the same
seed gives the same rows, so the results can be compared with those of the code before.
Keep the data as it is (a change needs new fixtures). Prompts and responses also get the
HTML an import stores, which no result reads and which draws nothing from the seed.
"""

import json
import random

WORDS = (
    "the model answers question with a short list of steps and some code example because "
    "users asked for clear help about python data science history music travel recipes"
).split()
MODELS = 4
PAIRS = [(0, 1), (2, 3), (0, 2), (1, 3)]  # 4 of the 6 pairs of each prompt
GRADERS = 200
OVERLAP = 3


def build(prompts: int, judgments: int, rng: random.Random):
    """The study, its graders, and `judgments` stored judgments; returns (study, graders)."""
    from django.db import transaction
    from django.utils import timezone

    from annotation.models import (
        Assignment,
        Judgment,
        LanguageModel,
        Membership,
        Prompt,
        Rating,
        Response,
        Study,
        Task,
        User,
    )

    with transaction.atomic():
        study = Study.objects.create(
            slug="bench",
            name="Bench study",
            instructions="Pick the **better** answer.",
            rating_scale=["poor", "acceptable", "good"],
            good_labels=["good"],
            tags=["harmful", "untrue", "unhelpful"],
            overlap=OVERLAP,
            require_ratings=True,
        )
        models = LanguageModel.objects.bulk_create(
            [LanguageModel(study=study, name=f"model-{i}") for i in range(MODELS)]
        )
        prompt_rows = [
            Prompt(study=study, external_id=f"p{i:06d}", text=" ".join(rng.choices(WORDS, k=20)))
            for i in range(prompts)
        ]
        for row in prompt_rows:
            row.render()  # the HTML an import stores beside the text
        Prompt.objects.bulk_create(prompt_rows, batch_size=5000)
        response_rows = [
            Response(prompt=p, model=m, text=" ".join(rng.choices(WORDS, k=rng.randint(40, 160))))
            for p in prompt_rows
            for m in models
        ]
        for row in response_rows:
            row.render()
        Response.objects.bulk_create(response_rows, batch_size=5000)
        tasks = []
        for i, p in enumerate(prompt_rows):
            mine = response_rows[i * MODELS : (i + 1) * MODELS]
            for a, b in PAIRS:
                ra, rb = sorted((mine[a].pk, mine[b].pk))
                tasks.append(
                    Task(
                        study=study,
                        kind=Task.Kind.PAIR,
                        prompt=p,
                        response_a_id=ra,
                        response_b_id=rb,
                        order_key=rng.randrange(2**31),
                    )
                )
        # Hand-out fills the least-filled tasks first, in order_key order: every task
        # once, then every task twice, then the first ones a third time.
        tasks.sort(key=lambda t: t.order_key)
        per_round = len(tasks)
        for i, task in enumerate(tasks):
            task.slots_taken = min(OVERLAP, judgments // per_round + (i < judgments % per_round))
        Task.objects.bulk_create(tasks, batch_size=5000)

        graders = [User(username=f"grader{g:03d}", role="grader") for g in range(GRADERS)]
        for user in graders:
            user.set_unusable_password()
        graders = User.objects.bulk_create(graders)
        Membership.objects.bulk_create([Membership(study=study, user=u) for u in graders])

        now = timezone.now()
        done = []  # (task, grader) of every stored judgment
        for n in range(judgments):
            round_, t = divmod(n, per_round)
            # 67 and 134 are not multiples of 200: a task's graders differ between rounds.
            done.append((tasks[t], graders[(t + 67 * round_) % GRADERS]))
        assignments = Assignment.objects.bulk_create(
            [
                Assignment(
                    task=task,
                    grader=grader,
                    status=Assignment.Status.DONE,
                    a_on_left=rng.random() < 0.5,
                    assigned_at=now,
                    expires_at=now,
                )
                for task, grader in done
            ],
            batch_size=5000,
        )
        verdicts = ["a", "b", "tie", "both_bad"]
        judgment_rows = Judgment.objects.bulk_create(
            [
                Judgment(
                    task=a.task,
                    grader=a.grader,
                    assignment=a,
                    verdict=rng.choice(verdicts),
                    seconds=rng.uniform(5, 120),
                    created_at=now,
                )
                for a in assignments
            ],
            batch_size=5000,
        )
        labels = study.rating_scale
        Rating.objects.bulk_create(
            [
                Rating(judgment=j, response_id=response_id, label=rng.choice(labels))
                for j in judgment_rows
                for response_id in (j.task.response_a_id, j.task.response_b_id)
            ],
            batch_size=5000,
        )
    return study, graders


def digest(study) -> dict:
    """Row counts and a SHA-256 of every row a result reads, over fields that the code
    before the results package (commit 99f5148) and today's code both have: two studies
    with the same digest hold the same data under the same primary keys."""
    import hashlib

    from annotation.models import (
        Assignment,
        Judgment,
        LanguageModel,
        MetricScore,
        Prompt,
        Rating,
        Response,
        Task,
        User,
    )

    tables = {
        "study": ([study], None),
        "models": (LanguageModel.objects.filter(study=study), ("pk", "name")),
        "prompts": (
            Prompt.objects.filter(study=study),
            ("pk", "external_id", "text", "metadata"),
        ),
        "responses": (
            Response.objects.filter(prompt__study=study),
            ("pk", "prompt_id", "model_id", "text"),
        ),
        "tasks": (
            Task.objects.filter(study=study),
            ("pk", "kind", "prompt_id", "response_a_id", "response_b_id", "is_gold", "slots_taken"),
        ),
        "graders": (
            User.objects.filter(judgments__task__study=study).distinct(),
            ("pk", "username", "kind"),
        ),
        "assignments": (
            Assignment.objects.filter(task__study=study),
            ("pk", "task_id", "grader_id", "status"),
        ),
        "judgments": (
            Judgment.objects.filter(task__study=study),
            ("pk", "task_id", "grader_id", "verdict", "seconds", "source"),
        ),
        "ratings": (
            Rating.objects.filter(judgment__task__study=study),
            ("pk", "judgment_id", "response_id", "label", "tags"),
        ),
        "metric_scores": (
            MetricScore.objects.filter(response__prompt__study=study),
            ("response_id", "metric", "value"),
        ),
    }
    out = {}
    for name, (rows, fields) in tables.items():
        if fields is None:
            rows = [
                (s.slug, s.rating_scale, s.good_labels, s.tags, s.overlap, s.require_ratings)
                for s in rows
            ]
        else:
            rows = rows.order_by(*fields[:3]).values_list(*fields)
        sha = hashlib.sha256()
        n = 0
        for row in rows:
            sha.update(json.dumps(row, sort_keys=True, default=str).encode())
            n += 1
        out[name] = {"rows": n, "sha256": sha.hexdigest()}
    return out
