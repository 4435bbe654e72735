"""Every view and API endpoint loads studies through these helpers; nothing else decides access.

Outsiders get 404 (a study's existence is not revealed); members whose role
does not allow the action get 403.
"""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.db import models
from django.db.models import QuerySet
from django.http import Http404

from annotation import handout
from annotation.models import Assignment, Judgment, Study, User
from annotation.prepared import PreparedSelect


def _is_admin(user: User) -> bool:
    return user.role == User.Role.ADMIN or user.is_superuser


def studies_for(user: User) -> QuerySet[Study]:
    """The studies a user belongs to (admins see every study)."""
    if not user.is_authenticated:
        return Study.objects.none()
    if _is_admin(user):
        return Study.objects.all()
    return Study.objects.filter(membership__user=user)


def get_study_for_grader(user: User, slug: str) -> Study:
    """A study the user may grade in: any member, whatever the role."""
    study = studies_for(user).filter(slug=slug).first()
    if study is None:
        raise Http404("No such study")
    return study


def get_study_for_researcher(user: User, slug: str) -> Study:
    """A study whose results the user may read: researchers who are members, and admins."""
    study = studies_for(user).filter(slug=slug).first()
    if study is None:
        raise Http404("No such study")
    if not user.is_researcher:
        raise PermissionDenied("Only researchers and admins can see results.")
    return study


def assignments_in_study(
    grader_id: int, slug: str, *, admin: bool, queryset: QuerySet[Assignment] | None = None
) -> QuerySet[Assignment]:
    """The grader's own assignments in study `slug`, if they may grade there (members;
    admins everywhere): the access rule for assignments, as a queryset to load from."""
    mine = (queryset if queryset is not None else Assignment.objects).filter(
        grader_id=grader_id, task__study__slug=slug
    )
    return mine if admin else mine.filter(task__study__membership__user_id=grader_id)


def get_assignment_for_grader(user: User, slug: str, assignment_id: int) -> Assignment:
    """One of the user's own assignments in a study of theirs, with its task and study;
    anyone else's, or one in a study they do not belong to, is a 404."""
    assignment = (
        assignments_in_study(user.pk, slug, admin=_is_admin(user))
        .select_related("task__study")
        .filter(pk=assignment_id)
        .first()
    )
    if assignment is None:
        raise Http404("No such assignment")
    return assignment


# The same, loaded for a vote (handout.for_vote) by a query compiled once per connection.
_FOR_VOTE = PreparedSelect(
    lambda admin, *, grader_id, slug, assignment_id: assignments_in_study(
        grader_id, slug, admin=admin, queryset=handout.for_vote(grader_id)
    ).filter(pk=assignment_id)[:1],
    grader_id=models.IntegerField(),
    slug=models.CharField(),
    assignment_id=models.IntegerField(),
)


def get_assignment_for_vote(user: User, slug: str, assignment_id: int) -> Assignment:
    """get_assignment_for_grader, with what a vote needs (handout.for_vote), in one query."""
    assignment = _FOR_VOTE.first(
        _is_admin(user), grader_id=user.pk, slug=slug, assignment_id=assignment_id
    )
    if assignment is None:
        raise Http404("No such assignment")
    return assignment


def get_judgment_for_grader(user: User, study: Study, judgment_id: int) -> Judgment:
    """One of the user's own answers given on the grading screen of this study; else a 404."""
    judgment = (
        Judgment.objects.select_related(
            "assignment", "task__prompt", "task__response_a", "task__response_b"
        )
        .filter(pk=judgment_id, grader=user, task__study=study, assignment__isnull=False)
        .first()
    )
    if judgment is None:
        raise Http404("No such answer")
    return judgment
