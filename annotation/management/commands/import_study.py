from django.core.management.base import BaseCommand, CommandError

from annotation.ingest import ImportFileError
from annotation.ingest.study_files import StudyOptions, import_study
from annotation.models import Study


def comma_list(value: str) -> list[str]:
    items = [item.strip() for item in value.split(",") if item.strip()]
    if not items:
        raise ValueError("empty list")
    return items


class Command(BaseCommand):
    help = (
        "Import prompts and model outputs from a JSONL or CSV study file into a study, "
        "creating the study, models, prompts, responses and tasks it needs. All or nothing: "
        "a file with any error writes nothing. Rerunning the same file changes nothing."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", help="a .jsonl (one prompt per line) or .csv study file")
        parser.add_argument("--study", required=True, help="slug of the study (created if needed)")
        parser.add_argument("--protocol", choices=[c for c, _ in Study.Protocol.choices])
        parser.add_argument("--overlap", type=int, help="graders per task (default 3)")
        parser.add_argument(
            "--pairs-per-prompt",
            type=int,
            help="a balanced sample of N model pairs per prompt instead of every pair",
        )
        parser.add_argument("--name", help="display name of a new study")
        parser.add_argument(
            "--scale",
            type=comma_list,
            help="rating labels, worst first (default poor,acceptable,good)",
        )
        parser.add_argument(
            "--good", type=comma_list, help="labels that count as good (default good)"
        )
        parser.add_argument(
            "--tags", type=comma_list, help="tag set (default harmful,untrue,unhelpful)"
        )
        parser.add_argument(
            "--require-ratings",
            action="store_true",
            default=None,
            help="in pairwise studies, ask for a rating of each response besides the verdict",
        )
        parser.add_argument(
            "--instructions", help="a text or Markdown file with the grader instructions"
        )

    def handle(self, *args, **options):
        for name in ("overlap", "pairs_per_prompt"):
            if options[name] is not None and options[name] < 1:
                raise CommandError(f"--{name.replace('_', '-')} must be at least 1")
        instructions = None
        if options["instructions"]:
            try:
                with open(options["instructions"], encoding="utf-8") as handle:
                    instructions = handle.read()
            except (OSError, UnicodeDecodeError) as exc:
                raise CommandError(
                    f"{options['instructions']}: cannot read instructions ({exc})"
                ) from exc
        study_options = StudyOptions(
            protocol=options["protocol"],
            overlap=options["overlap"],
            rating_scale=options["scale"],
            good_labels=options["good"],
            tags=options["tags"],
            name=options["name"],
            instructions=instructions,
            require_ratings=options["require_ratings"],
            pairs_per_prompt=options["pairs_per_prompt"],
        )
        try:
            summary = import_study(options["file"], options["study"], study_options)
        except ImportFileError as exc:
            raise CommandError(f"nothing was imported:\n{exc}") from exc
        self.stdout.write(summary.describe())
