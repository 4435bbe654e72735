"""Every view and API endpoint loads studies through these helpers; nothing else decides access.

Outsiders get 404 (a study's existence is not revealed); members whose role
does not allow the action get 403.
"""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import Http404

from annotation.models import Assignment, Judgment, Study, User


def studies_for(user: User) -> QuerySet[Study]:
    """The studies a user belongs to (admins see every study)."""
    if not user.is_authenticated:
        return Study.objects.none()
    if user.role == User.Role.ADMIN or user.is_superuser:
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


def get_assignment_for_grader(
    user: User, slug: str, assignment_id: int, *, queryset: QuerySet[Assignment] | None = None
) -> Assignment:
    """One of the user's own assignments in a study of theirs, with its task and study, in
    one query; anyone else's, or one in a study they do not belong to, is a 404.

    `queryset`: the caller's Assignment queryset, to load more in the same query (it must
    select_related "task__study")."""
    if queryset is None:
        queryset = Assignment.objects.select_related("task__study")
    assignment = queryset.filter(
        pk=assignment_id, grader=user, task__study__in=studies_for(user).filter(slug=slug)
    ).first()
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
