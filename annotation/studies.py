"""Creating a study outside an import file (the REST API): the import's defaults, and the
creator as its first member. Domain rules raise `StudyError`; the API maps them to 400."""

from __future__ import annotations

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError, transaction

from annotation.ingest import ErrorList, ImportFileError
from annotation.ingest.study_files import StudyOptions, get_or_create_study
from annotation.models import Membership, Study, User

# Study fields that StudyOptions (the import's options) does not cover.
EXTRA_FIELDS = ("blind", "reveal_after_vote", "gold_rate", "status")


class StudyError(ValueError):
    """A study that cannot be created as asked; `errors` maps a field (or
    "non_field_errors") to its messages."""

    def __init__(self, errors: dict[str, list[str]]):
        super().__init__("; ".join(f"{k}: {' '.join(v)}" for k, v in errors.items()))
        self.errors = errors


class SlugTaken(StudyError):
    """Another study already has the slug: the one check of this rule."""

    def __init__(self, slug: str):
        super().__init__({"slug": ["a study with this slug already exists"]})
        self.slug = slug


def create_study(user: User, data: dict) -> Study:
    """Create study `data["slug"]` with the same defaults as `manage.py import_study`; the
    user who creates it becomes a member. Raises SlugTaken if the slug is taken (also when
    another request takes it at the same moment) and StudyError for settings the study
    rules refuse (e.g. good labels off the rating scale)."""
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
                raise SlugTaken(data["slug"])
            extra = [name for name in EXTRA_FIELDS if name in data]
            for name in extra:
                setattr(study, name, data[name])
            if extra:
                study.full_clean(exclude=["members"])
                study.save(update_fields=extra)
            Membership.objects.create(study=study, user=user)
    except ImportFileError as exc:
        raise StudyError({"non_field_errors": exc.errors}) from None
    except DjangoValidationError as exc:
        if "slug" in getattr(exc, "error_dict", {}):
            raise SlugTaken(data["slug"]) from None
        raise StudyError(exc.message_dict) from None
    except IntegrityError:
        # Another request created the same slug between our check and our insert.
        raise SlugTaken(data["slug"]) from None
    return study
