"""Creating a study from the API: the import's defaults, and the creator as its first member."""

from __future__ import annotations

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError, transaction
from rest_framework import status
from rest_framework.exceptions import APIException, ValidationError

from annotation.importing import StudyFileError, StudyOptions, _Errors, _get_or_create_study
from annotation.models import Membership, Study, User

SLUG_TAKEN = {"slug": ["a study with this slug already exists"]}


class SlugTaken(APIException):
    """409 Conflict: the request is well formed, but a study already has this slug."""

    status_code = status.HTTP_409_CONFLICT
    default_detail = SLUG_TAKEN
    default_code = "conflict"


# Study fields that StudyOptions (the import's options) does not cover.
EXTRA_FIELDS = ("blind", "reveal_after_vote", "gold_rate", "status")


def create_study(user: User, data: dict) -> Study:
    """Create study `data["slug"]` with the same defaults as `manage.py import_study`; the
    user who creates it becomes a member. Raises SlugTaken (409) if the slug is taken,
    ValidationError (400) for a set-up the import would refuse."""
    options = StudyOptions(
        protocol=data.get("protocol"),
        overlap=data.get("overlap"),
        rating_scale=data.get("rating_scale"),
        good_labels=data.get("good_labels"),
        tags=data.get("tags"),
        name=data.get("name"),
        instructions=data.get("instructions"),
        require_ratings=data.get("require_ratings"),
    )
    errors = _Errors("request")
    try:
        with transaction.atomic():
            study, created = _get_or_create_study(data["slug"], options, errors)
            errors.raise_if_any()
            if not created:
                raise SlugTaken()
            extra = [name for name in EXTRA_FIELDS if name in data]
            for name in extra:
                setattr(study, name, data[name])
            if extra:
                study.full_clean(exclude=["members"])
                study.save(update_fields=extra)
            Membership.objects.create(study=study, user=user)
    except StudyFileError as exc:
        raise ValidationError({"non_field_errors": exc.errors}) from None
    except DjangoValidationError as exc:
        if "slug" in getattr(exc, "error_dict", {}):
            raise SlugTaken() from None
        raise ValidationError(exc.message_dict) from None
    except IntegrityError:
        # Another request created the same slug between our check and our insert.
        raise SlugTaken() from None
    return study
