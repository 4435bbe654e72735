"""The one permission class of the API."""

from __future__ import annotations

from rest_framework.permissions import SAFE_METHODS, BasePermission

from annotation.access import get_study_for_grader, get_study_for_researcher

# What each role may do, as the access loader that checks it on a study.
STUDY_LOADERS = {"grader": get_study_for_grader, "researcher": get_study_for_researcher}


class HasStudyRole(BasePermission):
    """Each view declares `required_role` ("grader": any member; "researcher": researchers
    who are members, and admins) and optionally `write_role` for unsafe methods.

    Under /studies/{slug}/ the study is loaded through annotation.access, the one place
    that decides access: outsiders get 404, members without the role 403. The loaded
    study is kept as `view.study`. Outside a study, "researcher" asks for the role itself.
    """

    message = "Only researchers and admins can do this."

    def has_permission(self, request, view) -> bool:
        if not (request.user and request.user.is_authenticated):
            return False
        role = view.required_role
        if request.method not in SAFE_METHODS:
            role = getattr(view, "write_role", role)
        slug = view.kwargs.get("slug")
        if slug is not None:
            view.study = STUDY_LOADERS[role](request.user, slug)
            return True
        return role == "grader" or request.user.is_researcher
