"""Import earlier judgments: arena battle logs and a generic JSONL of judgments.

Same rules as the study import: the whole file is checked first, every error names the
file, line and field, and only a clean file is written, in one transaction. Rerunning
the same file changes nothing. Rows are written in bulk (a few statements per table,
not per judgment), so a million battles import in well under a minute.

Arena records (JSON list or JSONL): ``model_a, model_b, winner`` and optionally
``question_id, judge, turn, language, tstamp, conversation_a, conversation_b``. Prompts
and responses the study lacks are created from the conversations.

Generic JSONL: ``{"prompt_id", "model_a", "model_b", "grader", "verdict", "rating_a",
"rating_b", "tags_a", "tags_b", "comment", "seconds", "created_at"}`` for a pair, or
``{"prompt_id", "model", "grader", "rating", "tags", "comment", ...}`` for a single
response. Verdict labels are scoring.verdicts' (model_a, model_b, tie, both_bad,
tie (bothbad), ...).

Imported judgments never change the grading queue: a judgment of a pair (or response)
the study's design includes is attached to its queued task (a human's takes one of its
slots, a model judge's none); any other gets a task outside the queue, which holds the
judgment for results and comparisons but is never handed to graders.
"""

from __future__ import annotations

import hashlib
import json
import math
import secrets
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from operator import itemgetter
from pathlib import Path
from typing import NamedTuple

from django.contrib.auth.hashers import UNUSABLE_PASSWORD_PREFIX
from django.db import connection, transaction
from django.utils.dateparse import parse_datetime

from annotation.ingest.errors import ErrorList
from annotation.ingest.reading import (
    chunks,
    json_document_records,
    jsonl_objects,
    max_output_chars,
    read_text,
    type_name,
)
from annotation.ingest.writing import (
    bulk_writes,
    datetime_adapter,
    db_now,
    gc_paused,
    indexes_built_after,
    insert_rows,
    json_adapter,
    new_pks,
    order_keys,
    sqlite_datetime,
)
from annotation.models import (
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
from annotation.rendering import render_conversation, render_markdown
from scoring import verdicts

NO_VERDICT = ""  # a single-response judgment
SWAPPED = {verdicts.A: verdicts.B, verdicts.B: verdicts.A}  # a verdict from the other side
PAIR, SINGLE = Task.Kind.PAIR.value, Task.Kind.SINGLE.value
USERNAME_LENGTH = User._meta.get_field("username").max_length
# The tables a judgment import adds rows to, analyzed afterwards (writing.refresh_statistics).
WRITTEN_BY_JUDGMENT_IMPORT = (Prompt, Response, Task, Judgment, Rating)


class Vote(NamedTuple):
    """One judgment of the file, checked. `verdict` is scoring.verdicts' (a / b / tie /
    both_bad) from the first model's side, or "" for a single response.

    A named tuple: the arena quick path builds a million of them with one C call
    (`_new_vote`), where a class's __init__ is a Python call setting 14 attributes."""

    line: int
    prompt_id: str
    grader: str
    models: tuple[str, ...]
    verdict: str
    ratings: tuple[str, ...] | None = None
    tags: tuple[list, ...] | None = None
    texts: tuple[str, ...] | None = None  # from arena conversations, to create responses
    comment: str = ""
    seconds: float | None = None
    created_at: datetime | None = None
    prompt_text: str | None = None
    prompt_messages: list | None = None
    language: str | None = None


_new_vote = partial(tuple.__new__, Vote)  # Vote from a tuple of all 14 fields, in order


@dataclass
class JudgmentImportSummary:
    judgments_created: int
    judgments_unchanged: int
    graders_created: int
    prompts_created: int
    responses_created: int

    def describe(self, slug: str) -> str:
        return (
            f"Imported into '{slug}': {self.judgments_created} judgments "
            f"({self.judgments_unchanged} already there), {self.graders_created} new grader accounts, "
            f"{self.prompts_created} prompts and {self.responses_created} responses created."
        )


# --- reading -----------------------------------------------------------------------------


def _read_records(path: str, errors: ErrorList) -> Iterable[tuple[int, object]]:
    """(line or record number, record): JSON lines one at a time, as they are checked
    (a million parsed lines are never held at once), or a JSON list's records."""
    text = read_text(path, errors, suffixes=(".json", ".jsonl"))
    if Path(path).suffix.lower() == ".json" or text.lstrip().startswith("["):
        return json_document_records(text, errors)
    return jsonl_objects(text, errors)


LAST_UNIX_TIME = 32503680000  # 3000-01-01: a tstamp must be before it
fromtimestamp = datetime.fromtimestamp


class _Reader:
    """Checks records one by one; equal strings are kept once (a million battles name the
    same few models, judges and prompts over and over)."""

    def __init__(self, errors: ErrorList, default_judge: str, study: Study):
        self.errors = errors
        self.default_judge = default_judge
        self.study = study
        self.strings: dict[str, str] = {}
        self.winners: dict[str, str] = {}  # winner label -> verdict (scoring.verdicts')

    def string(
        self, obj: dict, name: str, number: int, *, required=True, longest=200
    ) -> str | None:
        value = obj.get(name)
        if value is None:
            if required:
                self.errors.add(number, name, "is missing")
            return None
        if isinstance(value, bool) or not isinstance(value, str | int):
            self.errors.add(number, name, f"must be a string, got {type_name(value)}")
            return None
        value = str(value).strip()
        if not value and required:
            self.errors.add(number, name, "is empty")
            return None
        if len(value) > longest:
            self.errors.add(number, name, f"is longer than {longest} characters")
            return None
        return self.strings.setdefault(value, value)

    def known(self, value) -> str | None:
        """`value` if it is a clean name already seen (or clean now), else None."""
        if type(value) is not str:
            return None
        seen = self.strings.get(value)
        if seen is not None:
            return seen
        if 0 < len(value) <= USERNAME_LENGTH and value.strip() == value:
            self.strings[value] = value
            return value
        return None

    def verdict(self, raw, number: int, name: str) -> str | None:
        verdict = verdicts.parse_verdict(raw)
        if verdict is None:
            self.errors.add(number, name, f"must be one of {verdicts.EXPECTED}, got {raw!r}")
        return verdict

    def timestamp(self, value, number: int, name: str) -> datetime | None:
        if value is None:
            return None
        if isinstance(value, int | float) and not isinstance(value, bool):
            if math.isfinite(value) and 0 <= value < LAST_UNIX_TIME:
                return datetime.fromtimestamp(float(value), tz=UTC)
        elif isinstance(value, str):
            try:
                parsed = parse_datetime(value)
            except ValueError:
                parsed = None
            if parsed is not None:
                return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
        self.errors.add(number, name, f"must be a unix time or an ISO date, got {value!r}")
        return None

    def conversation(self, value, number: int, name: str) -> list[dict] | None:
        if value is None:
            return None
        if not isinstance(value, list) or not value:
            self.errors.add(number, name, "must be a non-empty list of {role, content}")
            return None
        turns = []
        for i, turn in enumerate(value):
            if (
                not isinstance(turn, dict)
                or not isinstance(turn.get("role"), str)
                or not isinstance(turn.get("content"), str)
            ):
                self.errors.add(
                    number, f"{name}[{i}]", "must be an object with string role and content"
                )
                return None
            if len(turn["content"]) > max_output_chars():
                self.errors.add(
                    number,
                    f"{name}[{i}].content",
                    f"is {len(turn['content']):,} characters long; the limit is "
                    f"{max_output_chars():,} (MAX_OUTPUT_CHARS)",
                )
                return None
            turns.append({"role": turn["role"], "content": turn["content"]})
        if turns[-1]["role"] != "assistant":
            self.errors.add(number, name, "must end with the model's (assistant) turn")
            return None
        if not turns[-1]["content"].strip():
            self.errors.add(number, name, "ends with an empty answer")
            return None
        return turns

    def arena(self, number: int, obj) -> Vote | None:
        """A battle record, checked: the quick path takes the usual shape (names seen or
        clean, a known winner, turn 1, unix time, no conversations) with a few dict
        lookups and one tuple; anything else goes through every check."""
        if type(obj) is dict and "conversation_a" not in obj and "conversation_b" not in obj:
            get, seen = obj.get, self.strings.get
            model_a, model_b, question = get("model_a"), get("model_b"), get("question_id")
            judge, winner = get("judge"), get("winner")
            # A string already in `strings` is a clean name (`known` and `string` keep only
            # those); anything else takes the slow check.
            model_a = (type(model_a) is str and seen(model_a)) or self.known(model_a)
            model_b = (type(model_b) is str and seen(model_b)) or self.known(model_b)
            question = (type(question) is str and seen(question)) or self.known(question)
            if judge is None:
                judge = self.default_judge
            else:
                judge = (type(judge) is str and seen(judge)) or self.known(judge)
            verdict = type(winner) is str and self.winners.get(winner)
            if not verdict:
                verdict = verdicts.parse_verdict(winner)
                if verdict is not None:
                    self.winners[winner] = verdict
            turn, tstamp, language = get("turn"), get("tstamp"), get("language")
            if (
                model_a and model_b and question and judge and verdict
                and model_a != model_b
                and (turn is None or turn == 1)
            ):  # fmt: skip
                if tstamp is None:
                    created = None
                elif (
                    (type(tstamp) is int or type(tstamp) is float) and 0 <= tstamp < LAST_UNIX_TIME
                ):  # the checks of `timestamp` (a NaN fails the comparison)
                    created = fromtimestamp(tstamp, UTC)
                else:
                    return self._arena_checked(number, obj)
                return _new_vote(
                    (number, question, judge, (model_a, model_b), verdict,
                     None, None, None, "", None, created, None, None,
                     language if type(language) is str else None)
                )  # fmt: skip
        return self._arena_checked(number, obj)

    def _arena_checked(self, number: int, obj) -> Vote | None:
        errors = self.errors
        if not isinstance(obj, dict):
            errors.add(number, None, f"each record must be a JSON object, got {type_name(obj)}")
            return None
        before = len(errors)
        model_a = self.string(obj, "model_a", number)
        model_b = self.string(obj, "model_b", number)
        verdict = self.verdict(obj.get("winner"), number, "winner")
        if model_a and model_a == model_b:
            errors.add(number, "model_b", f"model '{model_a}' battles itself")
        judge = (
            self.string(obj, "judge", number, required=False, longest=USERNAME_LENGTH)
            or self.default_judge
        )
        turn = obj.get("turn", 1)
        if turn is None:
            turn = 1
        if isinstance(turn, bool) or not isinstance(turn, int) or turn < 1:
            errors.add(number, "turn", f"must be a positive whole number, got {turn!r}")
        conv_a = self.conversation(obj.get("conversation_a"), number, "conversation_a")
        conv_b = self.conversation(obj.get("conversation_b"), number, "conversation_b")
        created = self.timestamp(obj.get("tstamp"), number, "tstamp")
        question_id = self.string(obj, "question_id", number, required=False)
        language = obj.get("language") if isinstance(obj.get("language"), str) else None
        if len(errors) > before:
            return None
        if (conv_a is None) != (conv_b is None):
            errors.add(
                number,
                "conversation_b" if conv_b is None else "conversation_a",
                "give both conversations or neither",
            )
            return None
        prompt_messages = conv_a[:-1] if conv_a else None
        if conv_a and conv_b and conv_a[:-1] != conv_b[:-1]:
            errors.add(number, "conversation_b", "the two conversations ask different prompts")
            return None
        if conv_a and not prompt_messages:
            errors.add(number, "conversation_a", "has no prompt before the model's answer")
            return None
        if question_id is None:
            if prompt_messages is None:
                errors.add(
                    number,
                    "question_id",
                    "is missing, and there are no conversations to take the prompt from",
                )
                return None
            question_id = (
                "conv-"
                + hashlib.sha1(json.dumps(prompt_messages, sort_keys=True).encode()).hexdigest()[
                    :16
                ]
            )
        prompt_id = question_id if turn == 1 else f"{question_id}#turn{turn}"
        if len(prompt_id) > 200:
            errors.add(number, "question_id", "is longer than 200 characters")
            return None
        user_turns = [m["content"] for m in prompt_messages or [] if m["role"] == "user"]
        return Vote(
            line=number,
            prompt_id=self.strings.setdefault(prompt_id, prompt_id),
            grader=judge,
            models=(model_a, model_b),
            verdict=verdict,
            texts=(conv_a[-1]["content"], conv_b[-1]["content"]) if conv_a else None,
            created_at=created,
            prompt_text=user_turns[-1] if user_turns else None,
            prompt_messages=prompt_messages
            if prompt_messages and len(prompt_messages) > 1
            else None,
            language=language,
        )

    def generic(self, number: int, obj) -> Vote | None:
        errors, study = self.errors, self.study
        if not isinstance(obj, dict):
            errors.add(number, None, f"each record must be a JSON object, got {type_name(obj)}")
            return None
        before = len(errors)
        prompt_id = self.string(obj, "prompt_id", number)
        grader = self.string(obj, "grader", number, longest=USERNAME_LENGTH)
        comment = obj.get("comment") or ""
        if not isinstance(comment, str):
            errors.add(number, "comment", f"must be text, got {type_name(comment)}")
        elif len(comment) > max_output_chars():
            errors.add(number, "comment", "is longer than MAX_OUTPUT_CHARS characters")
        seconds = obj.get("seconds")
        if seconds is not None and (
            isinstance(seconds, bool)
            or not isinstance(seconds, int | float)
            or not math.isfinite(seconds)
            or seconds < 0
        ):
            errors.add(number, "seconds", f"must be a non-negative number, got {seconds!r}")
        created = self.timestamp(obj.get("created_at"), number, "created_at")

        def rating(name):
            value = obj.get(name) or ""
            if value and value not in study.rating_scale:
                errors.add(
                    number,
                    name,
                    f"{value!r} is not on the study's rating scale {study.rating_scale}",
                )
            return value

        def tags(name):
            value = obj.get(name) or []
            if not isinstance(value, list) or not all(isinstance(t, str) for t in value):
                errors.add(number, name, "must be a list of tag names")
                return []
            unknown = [t for t in value if t not in study.tags]
            if unknown:
                errors.add(
                    number, name, f"unknown tags {unknown}; the study's tags are {study.tags}"
                )
            return value

        if "model" in obj:
            models = (self.string(obj, "model", number),)
            ratings, tag_lists = (rating("rating"),), (tags("tags"),)
            verdict = NO_VERDICT
            if not ratings[0] and not tag_lists[0]:
                errors.add(number, "rating", "a single-response judgment needs a rating or tags")
        else:
            models = (self.string(obj, "model_a", number), self.string(obj, "model_b", number))
            if models[0] and models[0] == models[1]:
                errors.add(number, "model_b", f"model '{models[0]}' is compared with itself")
            raw = obj.get("verdict", obj.get("winner"))
            verdict = self.verdict(raw, number, "verdict")
            ratings = (rating("rating_a"), rating("rating_b"))
            tag_lists = (tags("tags_a"), tags("tags_b"))
        if len(errors) > before:
            return None
        return Vote(
            line=number,
            prompt_id=prompt_id,
            grader=grader,
            models=models,
            verdict=verdict,
            ratings=ratings,
            tags=tag_lists,
            comment=comment,
            seconds=seconds,
            created_at=created,
        )


# --- importing ---------------------------------------------------------------------------


def import_judgments(
    path: str | Path,
    slug: str,
    fmt: str,
    *,
    model_judge: bool = False,
    default_judge: str = "imported",
) -> JudgmentImportSummary:
    """Check and import a file of earlier judgments into study `slug` (all or nothing)."""
    path = str(path)
    errors = ErrorList(path)
    study = Study.objects.filter(slug=slug).first()
    if study is None:
        errors.add(
            None,
            None,
            f"no study with slug '{slug}' (import its prompts first, or create it in the admin)",
        )
    if fmt not in ("arena", "jsonl"):
        errors.add(None, None, f"unknown format '{fmt}': arena or jsonl")
    errors.raise_if_any()
    with gc_paused():
        reader = _Reader(errors, default_judge, study)
        parse = reader.arena if fmt == "arena" else reader.generic
        votes = [
            vote
            for vote in (parse(number, obj) for number, obj in _read_records(path, errors))
            if vote is not None
        ]
        del reader
        if not votes and not errors:
            errors.add(None, None, "the file holds no judgments")
        errors.raise_if_any()
        with transaction.atomic(), bulk_writes(analyze=WRITTEN_BY_JUDGMENT_IMPORT):
            study = Study.objects.select_for_update().get(pk=study.pk)
            summary = _Writer(study, errors, fmt, model_judge).write(votes)
    return summary


class _Writer:
    """Writes checked votes in bulk: models, prompts, responses, graders, tasks,
    judgments and ratings, each with a few statements; raises (rolling back) if the file
    disagrees with what is stored."""

    def __init__(self, study: Study, errors: ErrorList, fmt: str, model_judge: bool):
        self.study = study
        self.errors = errors
        self.model_judge = model_judge
        # Field names in the file's own words, for error messages.
        self.prompt_field = "question_id" if fmt == "arena" else "prompt_id"
        self.verdict_field = "winner" if fmt == "arena" else "verdict"
        self.arena = fmt == "arena"  # votes without comments or seconds
        self.now = db_now()
        self.json_value = json_adapter()

    def write(self, votes: list[Vote]) -> JudgmentImportSummary:
        models = self._models(votes)
        prompts, prompts_created = self._prompts(votes)
        responses, responses_created = self._responses(votes, prompts, models)
        self.errors.raise_if_any()
        graders, graders_created = self._graders(votes)
        created, unchanged = self._judgments(votes, prompts, models, responses, graders)
        if created:
            self.study.results_changed()
        return JudgmentImportSummary(
            created, unchanged, graders_created, prompts_created, responses_created
        )

    def _models(self, votes: list[Vote]) -> dict[str, int]:
        study = self.study
        models = dict(LanguageModel.objects.filter(study=study).values_list("name", "pk"))
        missing = sorted({m for vote in votes for m in vote.models} - models.keys())
        if missing:
            LanguageModel.objects.bulk_create([LanguageModel(study=study, name=m) for m in missing])
            models = dict(LanguageModel.objects.filter(study=study).values_list("name", "pk"))
        return models

    def _prompts(self, votes: list[Vote]) -> tuple[dict[str, int], int]:
        prompts = dict(Prompt.objects.filter(study=self.study).values_list("external_id", "pk"))
        new: dict[str, Vote] = {}
        for vote in votes:
            if vote.prompt_id in prompts or vote.prompt_id in new:
                continue
            if vote.prompt_text is None:
                self.errors.add(
                    vote.line,
                    self.prompt_field,
                    f"prompt '{vote.prompt_id}' is not in study '{self.study.slug}' and the "
                    "record has no conversation to create it from",
                )
                continue
            new[vote.prompt_id] = vote
        self.errors.raise_if_any()
        if not new:
            return prompts, 0
        insert_rows(
            Prompt,
            ["study", "external_id", "text", "messages", "reference", "metadata",
             "conversation_html"],
            (
                (
                    self.study.pk,
                    ext,
                    vote.prompt_text,
                    None if vote.prompt_messages is None else self.json_value(vote.prompt_messages),
                    None,
                    self.json_value({"language": vote.language} if vote.language else {}),
                    self.json_value(
                        render_conversation(
                            vote.prompt_messages
                            or [{"role": "user", "content": vote.prompt_text}]
                        )
                    ),
                )
                for ext, vote in new.items()
            ),
        )  # fmt: skip
        prompts = dict(Prompt.objects.filter(study=self.study).values_list("external_id", "pk"))
        return prompts, len(new)

    def _responses(self, votes, prompts, models) -> tuple[dict[tuple[int, int], int], int]:
        responses = {
            (prompt_pk, model_pk): pk
            for pk, prompt_pk, model_pk in Response.objects.filter(
                prompt__study=self.study
            ).values_list("pk", "prompt_id", "model_id")
        }
        # Texts the file gives for a response: new ones to create, stored ones to compare.
        given: dict[tuple[int, int], tuple[str, Vote]] = {}
        found: set[tuple] = set()  # (prompt id, models) of votes whose responses are stored
        for vote in votes:
            if vote.texts is None:
                if (vote.prompt_id, vote.models) not in found:
                    self._require_stored(vote, prompts, models, responses, found)
                continue
            prompt_pk = prompts[vote.prompt_id]
            for i, model in enumerate(vote.models):
                first = given.setdefault((prompt_pk, models[model]), (vote.texts[i], vote))
                if first[0] != vote.texts[i]:
                    self._differs(vote, model)
        stored_texts = {}
        stored_keys = [key for key in given if key in responses]
        for chunk in chunks([responses[key] for key in stored_keys]):
            stored_texts.update(Response.objects.filter(pk__in=chunk).values_list("pk", "text"))
        for key in stored_keys:
            text, vote = given[key]
            if stored_texts[responses[key]] != text:
                model = next(m for m in vote.models if models[m] == key[1])
                self._differs(vote, model)
        self.errors.raise_if_any()
        new = [(key, text) for key, (text, _) in given.items() if key not in responses]
        if new:
            insert_rows(
                Response,
                ["prompt", "model", "text", "metadata", "html"],
                ((p, m, text, self.json_value({}), render_markdown(text)) for (p, m), text in new),
            )
            responses.update(
                ((prompt_pk, model_pk), pk)
                for pk, prompt_pk, model_pk in Response.objects.filter(
                    prompt__study=self.study
                ).values_list("pk", "prompt_id", "model_id")
            )
        return responses, len(new)

    def _require_stored(self, vote: Vote, prompts, models, responses, found: set) -> None:
        """An error for each response the vote names that the study lacks; if none,
        remember its prompt and models as found (a million battles name a few thousand)."""
        prompt_pk = prompts[vote.prompt_id]
        missing = False
        for model in vote.models:
            if (prompt_pk, models[model]) not in responses:
                missing = True
                self.errors.add(
                    vote.line,
                    "model",
                    f"no response of '{model}' to prompt '{vote.prompt_id}' in study "
                    f"'{self.study.slug}'",
                )
        if not missing:
            found.add((vote.prompt_id, vote.models))

    def _differs(self, vote: Vote, model: str) -> None:
        self.errors.add(
            vote.line,
            "conversation",
            f"the output of '{model}' for '{vote.prompt_id}' differs from the stored one",
        )

    def _graders(self, votes: list[Vote]) -> tuple[dict[str, tuple[int, bool]], int]:
        """(pk, is human) of each grader the file names, creating the missing accounts (no
        usable password) and their study memberships."""
        names = sorted({vote.grader for vote in votes})
        graders = self._known_graders(names)
        missing = [name for name in names if name not in graders]
        kind = User.Kind.MODEL_JUDGE if self.model_judge else User.Kind.HUMAN
        no_details = self.json_value({})
        insert_rows(
            User,
            ["username", "password", "is_superuser", "is_staff", "is_active", "first_name",
             "last_name", "email", "date_joined", "role", "kind", "demographics"],
            (
                # What make_password(None) stores: a prefix no hash has, and random text.
                (name, UNUSABLE_PASSWORD_PREFIX + secrets.token_hex(20), False, False, True,
                 "", "", "", self.now, User.Role.GRADER.value, kind.value, no_details)
                for name in missing
            ),
        )  # fmt: skip
        graders.update(self._known_graders(missing))
        members = set(Membership.objects.filter(study=self.study).values_list("user_id", flat=True))
        insert_rows(
            Membership,
            ["study", "user", "joined_at"],
            ((self.study.pk, pk, self.now) for pk, _ in graders.values() if pk not in members),
        )
        return graders, len(missing)

    @staticmethod
    def _known_graders(names: list[str]) -> dict[str, tuple[int, bool]]:
        """(pk, is human) of the accounts named `names`, in plain SQL: Django's `__in`
        lookup prepares each of 20,000 names one by one (seconds)."""
        found = {}
        human = User.Kind.HUMAN.value
        quote = connection.ops.quote_name
        table = quote(User._meta.db_table)
        with connection.cursor() as cursor:
            for chunk in chunks(names, 900):  # under SQLite's old 999-parameter limit
                marks = ", ".join(["%s"] * len(chunk))
                cursor.execute(
                    f"SELECT id, username, kind FROM {table} WHERE username IN ({marks})", chunk
                )
                for pk, username, kind in cursor.fetchall():
                    found[username] = (pk, kind == human)
        return found

    def _judgments(self, votes, prompts, models, responses, graders) -> tuple[int, int]:
        tasks = self._tasks()
        wanted, new_tasks, humans, unchanged = self._match(
            votes, prompts, models, responses, graders, tasks
        )
        self.errors.raise_if_any()
        task_pks = self._write_tasks(new_tasks, humans, tasks)
        # In task order, the indexes of judgments and ratings grow at one end.
        # Sorted by task alone (stable, on an int): a task's judgments go to one place of
        # the (task, grader) index whatever their graders' order.
        if task_pks:
            get = task_pks.get
            wanted = [
                (get(task, task), grader_pk, verdict, vote, sides)
                for task, grader_pk, verdict, vote, sides in wanted
            ]
        wanted.sort(key=itemgetter(0))
        before = Judgment.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
        with indexes_built_after(Judgment, len(wanted)):
            self._write_judgments(wanted)
        pks = new_pks(Judgment, before, len(wanted))
        if pks is None:
            found = {
                (task_id, grader_id): pk
                for pk, task_id, grader_id in Judgment.objects.filter(pk__gt=before).values_list(
                    "pk", "task_id", "grader_id"
                )
            }
            pks = [found[(task, grader_pk)] for task, grader_pk, _, _, _ in wanted]
        with indexes_built_after(Rating, sum(len(item[4]) for item in wanted)):
            if self.arena:  # battles without labels or tags: ints and text only
                insert_rows(
                    Rating,
                    ["judgment", "response"],
                    (
                        (judgment, response)
                        for item, judgment in zip(wanted, pks, strict=True)
                        for response in item[4]
                    ),
                    constants={"label": "", "tags": self.json_value([])},
                    plain=True,
                )
            else:
                insert_rows(
                    Rating, ["judgment", "response", "label", "tags"], self._ratings(wanted, pks)
                )
        return len(wanted), unchanged

    def _match(self, votes, prompts, models, responses, graders, tasks):
        """The votes to write as (task, grader pk, verdict, vote, response pks), in file
        order, after checking them against the stored judgments and each other; the new
        tasks they need ({number below 0 standing for the task: (task key, prompt pk)}),
        how many human votes each task gets, and how many votes are already there.

        A task is its pk, or for a new one a number below 0 until it is written."""
        known = {  # (task, grader pk) -> verdict, stored or earlier in the file
            (task_id, grader_id): verdict
            for task_id, grader_id, verdict in Judgment.objects.filter(
                task__study=self.study
            ).values_list("task_id", "grader_id", "verdict")
        }
        names = {pk: name for name, pk in models.items()}
        external = {pk: ext for ext, pk in prompts.items()}
        response_of = {
            (external[prompt_pk], names[model_pk]): (prompt_pk, pk)
            for (prompt_pk, model_pk), pk in responses.items()
            if prompt_pk in external
        }
        task_of = dict(tasks)  # task key -> task
        new_tasks: dict[int, tuple] = {}
        sides_of: dict[tuple, tuple] = {}  # (prompt id, models) -> (task, swapped, pks)
        wanted: list[tuple] = []
        humans: Counter = Counter()
        unchanged = 0
        # Locals, and each (task, grader) key built once: this loop runs once per vote.
        sides_get, known_get, append, swapped = sides_of.get, known.get, wanted.append, SWAPPED
        for vote in votes:
            where = (vote.prompt_id, vote.models)
            found = sides_get(where)
            if found is None:
                key, prompt_pk, swap, sides = self._task_key(vote, response_of)
                task = task_of.get(key)
                if task is None:
                    task = task_of[key] = -1 - len(new_tasks)
                    new_tasks[task] = (key, prompt_pk)
                found = sides_of[where] = (task, swap, sides)
            task, swap, sides = found
            verdict = vote.verdict
            if swap:
                verdict = swapped.get(verdict, verdict)
            grader_pk, human = graders[vote.grader]
            pair = (task, grader_pk)
            earlier = known_get(pair)
            if earlier is not None:
                if earlier != verdict:
                    self.errors.add(
                        vote.line,
                        self.verdict_field,
                        f"'{vote.grader}' already has a different verdict on this pair "
                        f"({earlier or 'a single rating'})",
                    )
                unchanged += 1
                continue
            known[pair] = verdict
            if human:
                humans[task] += 1
            append((task, grader_pk, verdict, vote, sides))
        return wanted, new_tasks, humans, unchanged

    @staticmethod
    def _task_key(vote: Vote, response_of) -> tuple[tuple, int, bool, tuple]:
        """(task key, prompt pk, whether the file's sides are the task's swapped, the
        responses in the file's order) of a vote."""
        if len(vote.models) == 1:
            prompt_pk, first = response_of[(vote.prompt_id, vote.models[0])]
            return (SINGLE, first, None), prompt_pk, False, (first,)
        prompt_pk, first = response_of[(vote.prompt_id, vote.models[0])]
        second = response_of[(vote.prompt_id, vote.models[1])][1]
        if first < second:
            return (PAIR, first, second), prompt_pk, False, (first, second)
        return (PAIR, second, first), prompt_pk, True, (first, second)

    def _write_tasks(self, new_tasks, humans, tasks) -> dict[int, int]:
        """Write the new tasks, outside the queue, and the slots human votes take in
        queued ones (a model judge's take none); the pk of each new task."""
        study = self.study
        order_key = order_keys()
        with indexes_built_after(Task, len(new_tasks)):
            insert_rows(
                Task,
                ["study", "kind", "prompt", "response_a", "response_b", "is_gold",
                 "gold_answer", "slots_taken", "order_key", "in_queue", "created_at"],
                (
                    (study.pk, key[0], prompt_pk, key[1], key[2], False, "", humans[task],
                     order_key(), False, self.now)
                    for task, (key, prompt_pk) in new_tasks.items()
                ),
            )  # fmt: skip
        task_pks = {}
        if new_tasks:
            stored = self._tasks()
            task_pks = {task: stored[key] for task, (key, _) in new_tasks.items()}
        table = connection.ops.quote_name(Task._meta.db_table)
        with connection.cursor() as cursor:
            cursor.executemany(
                f"UPDATE {table} SET slots_taken = slots_taken + %s WHERE id = %s",
                [(n, task) for task, n in humans.items() if task > 0],
            )
        return task_pks

    def _write_judgments(self, wanted) -> None:
        when, now, imported = datetime_adapter(), self.now, Judgment.Source.IMPORTED.value
        if when is sqlite_datetime:  # the same text, without a call per judgment
            times = (
                now if (created := vote.created_at) is None
                else (created if created.tzinfo is UTC else created.astimezone(UTC))
                .isoformat(" ")[:-6]
                for _, _, _, vote, _ in wanted
            )  # fmt: skip
        else:
            times = (
                now if vote.created_at is None else when(vote.created_at)
                for _, _, _, vote, _ in wanted
            )
        if self.arena:  # no comment, no seconds: ints and text only
            insert_rows(
                Judgment,
                ["task", "grader", "verdict", "created_at"],
                (
                    (task, grader_pk, verdict, time)
                    for (task, grader_pk, verdict, _, _), time in zip(wanted, times, strict=True)
                ),
                constants={"comment": "", "seconds": None, "source": imported, "updated_at": now},
                plain=when is sqlite_datetime,
            )
            return
        insert_rows(
            Judgment,
            ["task", "grader", "verdict", "comment", "seconds", "created_at"],
            (
                (task, grader_pk, verdict, vote.comment, vote.seconds, time)
                for (task, grader_pk, verdict, vote, _), time in zip(wanted, times, strict=True)
            ),
            constants={"source": imported, "updated_at": now},
        )

    def _tasks(self) -> dict[tuple, int]:
        return {
            (kind, a, b): pk
            for pk, kind, a, b in Task.objects.filter(study=self.study, is_gold=False).values_list(
                "pk", "kind", "response_a_id", "response_b_id"
            )
        }

    def _ratings(self, wanted, judgment_pks):
        """One rating row per judged response, even without a label or tags (tag rates
        count every judged response)."""
        no_tags = self.json_value([])
        json_value = self.json_value
        for (_, _, _, vote, sides), judgment in zip(wanted, judgment_pks, strict=True):
            if vote.ratings is None:
                for response in sides:
                    yield judgment, response, "", no_tags
                continue
            for response, label, tags in zip(sides, vote.ratings, vote.tags, strict=True):
                yield judgment, response, label, json_value(tags) if tags else no_tags
