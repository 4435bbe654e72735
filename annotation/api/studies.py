"""Creating a study from the API: the import's defaults, and the creator as its first member."""

from __future__ import annotations

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError, transaction
from rest_framework.exceptions import ValidationError

from annotation.ingest import ErrorList, ImportFileError
from annotation.ingest.study_files import StudyOptions, get_or_create_study
from annotation.models import Membership, Study, User

SLUG_TAKEN = {"slug": ["a study with this slug already exists"]}
# Study fields that StudyOptions (the import's options) does not cover.
EXTRA_FIELDS = ("blind", "reveal_after_vote", "gold_rate", "status")


def create_study(user: User, data: dict) -> Study:
    """Create study `data["slug"]` with the same defaults as `manage.py import_study`; the
    user who creates it becomes a member. Raises ValidationError if the slug is taken."""
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
    errors = ErrorList("request")
    try:
        with transaction.atomic():
            study, created = get_or_create_study(data["slug"], options, errors)
            errors.raise_if_any()
            if not created:
                raise ValidationError(SLUG_TAKEN)
            extra = [name for name in EXTRA_FIELDS if name in data]
            for name in extra:
                setattr(study, name, data[name])
            if extra:
                study.full_clean(exclude=["members"])
                study.save(update_fields=extra)
            Membership.objects.create(study=study, user=user)
    except ImportFileError as exc:
        raise ValidationError({"non_field_errors": exc.errors}) from None
    except DjangoValidationError as exc:
        if "slug" in getattr(exc, "error_dict", {}):
            raise ValidationError(SLUG_TAKEN) from None
        raise ValidationError(exc.message_dict) from None
    except IntegrityError:
        # Another request created the same slug between our check and our insert.
        raise ValidationError(SLUG_TAKEN) from None
    return study
